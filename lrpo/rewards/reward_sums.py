"""The running sums of :class:`~lrpo.rewards.SemanticReward` and the metrics derived from them
(sums, not means, so that those of several ranks merge exactly)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from lrpo.metrics import MetricSums

from .guards import GUARDS
from .semantic_config import RewardBreakdown

__all__ = ["RewardSums", "reward_metrics"]

# Sums per requested language (``lang/<code>/<field>``) and of the gate.
_LANGUAGE_SUMS = (
    "count",
    "reward",
    "raw",
    "n_raw",
    "calibrated",
    "n_calibrated",
    "gated",
    "passed",
)
_GATE_SUMS = ("gate/gated", "gate/passed", "gate/value")


class RewardSums:
    """Additive sums over the breakdowns recorded since the last reset (``gated``: the gate's
    values and passes too)."""

    def __init__(self, *, gated: bool) -> None:
        self.gated = gated
        self._reset()

    def _reset(self) -> None:
        self._items = 0
        self._guards: Counter[str] = Counter()
        self._languages: dict[str, np.ndarray] = {}  # code -> the _LANGUAGE_SUMS
        self._gate = np.zeros(len(_GATE_SUMS))  # items gated, passed, sum of gate values

    def record(self, b: RewardBreakdown) -> None:
        """Add one call's breakdown (NaN parts are left out of their sums)."""
        self._items += len(b)
        self._guards.update(g for g in b.guard.tolist() if g)
        keys = np.array([c if isinstance(c, str) else "?" for c in b.requested.tolist()])
        codes, inverse = np.unique(keys, return_inverse=True)
        raw_ok, cal_ok = np.isfinite(b.raw), np.isfinite(b.calibrated)
        gated = ~np.isnan(b.gate) & (b.guard == "")
        passed = gated & (b.gate_reason == "pass")
        for slot, code in enumerate(codes.tolist()):
            m = inverse == slot
            row = self._languages.setdefault(code, np.zeros(len(_LANGUAGE_SUMS)))
            row += (
                m.sum(),
                b.reward[m].sum(),
                b.raw[m & raw_ok].sum(),
                (m & raw_ok).sum(),
                b.calibrated[m & cal_ok].sum(),
                (m & cal_ok).sum(),
                (m & gated).sum(),
                (m & passed).sum(),
            )
        if self.gated:
            self._gate += (gated.sum(), passed.sum(), b.gate[gated].sum())

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """``items``, ``lang/<code>/<field>``, the gate's sums and ``guard/<name>``, derived by
        :func:`reward_metrics`; ``reset=True`` starts a new window."""
        sums = {"items": float(self._items)}
        for code, row in self._languages.items():
            keys = (f"lang/{code}/{field}" for field in _LANGUAGE_SUMS)
            sums.update(zip(keys, row.tolist(), strict=True))
        if self.gated:
            sums.update(zip(_GATE_SUMS, self._gate.tolist(), strict=True))
        sums.update((f"guard/{name}", float(self._guards[name])) for name in GUARDS)
        if reset:
            self._reset()
        return MetricSums(sums, reward_metrics)


def reward_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of :meth:`SemanticReward.metric_sums`.

    ``reward/mean``; per requested language ``reward/<lang>/{count,mean,raw,calibrated}``
    (raw and calibrated over scored items); ``gate/pass_rate`` (over gated items),
    ``gate/mean`` and ``gate/<lang>/pass_rate`` (low for a language the policy cannot be
    directed into; NaN where none was gated); ``guard/<name>`` counts and ``guard/rate``.
    """
    items = sums.get("items", 0.0)
    rows: dict[str, dict[str, float]] = {}
    for key, value in sums.items():
        if key.startswith("lang/"):
            code, field = key[5:].rsplit("/", 1)
            rows.setdefault(code, {})[field] = value
    out = {"reward/mean": _ratio(sum(row["reward"] for row in rows.values()), items)}
    for code, row in sorted(rows.items()):
        out[f"reward/{code}/count"] = float(row["count"])
        out[f"reward/{code}/mean"] = _ratio(row["reward"], row["count"])
        out[f"reward/{code}/raw"] = _ratio(row["raw"], row["n_raw"])
        out[f"reward/{code}/calibrated"] = _ratio(row["calibrated"], row["n_calibrated"])
    if _GATE_SUMS[0] in sums:
        gated, passed, value = (sums[key] for key in _GATE_SUMS)
        out["gate/pass_rate"], out["gate/mean"] = _ratio(passed, gated), _ratio(value, gated)
        for code, row in sorted(rows.items()):  # can the policy be directed into each?
            out[f"gate/{code}/pass_rate"] = _ratio(row.get("passed", 0.0), row.get("gated", 0.0))
    guards = {name: sums.get(f"guard/{name}", 0.0) for name in GUARDS}
    out.update((f"guard/{name}", float(count)) for name, count in guards.items())
    out["guard/rate"] = _ratio(sum(guards.values()), items)
    return out


def _ratio(total: float, count: float) -> float:
    return float(total / count) if count else float("nan")
