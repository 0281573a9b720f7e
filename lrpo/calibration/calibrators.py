"""`MeanCalibrator` and `QuantileCalibrator`: raw cosine -> reward in [0, 1], per language pair.

A batch of mixed pairs is calibrated with array gathers: every (ref_lang, out_lang) is a cell
whose statistics were resolved at fit time, back-off included (:mod:`lrpo.calibration.backoff`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.special import expit

from .backoff import BACKOFF_RULES
from .base import BaseCalibrator, Codes, NotFittedError, Scores
from .entries import KindStats, PairStats
from .table import CalibrationTable

__all__ = ["MeanCalibrator", "NotFittedError", "ProbabilityCalibrator", "QuantileCalibrator"]

_OFFSET = 4.0  # knots of cell c are searched as knot + 4 c: cells never overlap ([-1, 1] + 4 c)


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _count_mean(stats: KindStats | None) -> tuple[float, np.ndarray] | None:
    return None if stats is None else (float(stats.count), np.array([stats.mean]))


class MeanCalibrator(BaseCalibrator):
    """Mean calibration, the reference's released default.

    ``cal = clip(s - lam (mu_pair - mu_ref), -1, 1)`` and ``r = clip((cal + 1) / 2, 0, 1)``,
    with ``mu_pair`` the pair's mean equivalent score, ``lam = n / (n + shrinkage)`` (``n`` its
    number of equivalents) and ``mu_ref`` the count-weighted mean of all entries' equivalent
    means. Pairs without equivalents in the table back off (see ``backoff``).

    Parameters
    ----------
    shrinkage : float, default 0
        Pseudo-count ``k`` pulling a pair's offset towards 0 (the reference uses 0).
    backoff : sequence of str, default ("reverse", "same_language", "marginal", "global")
        Rules for a pair without its own equivalents; must end with ``"global"``.
    online : float or None, default None
        Off when None. Otherwise the prior strength (a pseudo-count) of an adjustment to the
        training domain (a domain shifts every cosine, not equally in every pair), learned
        from training *mismatches* (:meth:`partial_fit`): wrong whatever the policy does, so
        a policy truly worse in one language does not get its rewards lifted there. A pair's
        offset moves by ``c / (c + online)`` times its own shift ``m_online - m_offline``
        plus ``online / (c + online)`` times the pooled shift, ``c`` its mismatch count.

    Examples
    --------
    >>> from lrpo.calibration import CalibrationTable, Provenance
    >>> table = CalibrationTable.from_scores(
    ...     {("en", "de"): {"equivalent": [0.9, 0.9]}, ("en", "en"): {"equivalent": [0.7, 0.7]}},
    ...     embedder="e5", languages=["en", "de"], ordered=True,
    ...     provenance=Provenance(source="doctest"))
    >>> calibrator = MeanCalibrator().fit(table)  # mu_ref = 0.8
    >>> calibrator([0.9, 0.7], ["en", "en"], ["de", "en"]).round(6).tolist()
    [0.9, 0.9]
    """

    _params = ("shrinkage", "backoff", "online")

    def __init__(
        self,
        *,
        shrinkage: float = 0.0,
        backoff: Sequence[str] = BACKOFF_RULES,
        online: float | None = None,
    ) -> None:
        super().__init__(backoff=backoff, shrinkage=shrinkage, online=online)

    def _check_params(self) -> None:
        super()._check_params()
        if not (_is_finite_number(self.shrinkage) and self.shrinkage >= 0):
            raise ValueError(f"shrinkage must be a finite number >= 0, got {self.shrinkage!r}")
        if self.online is not None and not (_is_finite_number(self.online) and self.online > 0):
            raise ValueError(
                f"online must be None (off) or a prior strength > 0, got {self.online!r}"
            )

    def _fit(self, table: CalibrationTable) -> None:
        def mismatches(entry: PairStats) -> tuple[float, np.ndarray] | None:
            return _count_mean(entry.mismatch or entry.hard_negative)

        def extract(entry: PairStats) -> tuple[float, np.ndarray] | None:
            return _count_mean(entry.equivalent)

        if self.online is not None:
            means, _, _ = self.index_.resolve(table, mismatches, self._backoff)
            self.mismatch_means_ = means[:, 0]
        values, weights, self.cell_sources_ = self.index_.resolve(table, extract, self._backoff)
        entries = [e.equivalent for e in table.pairs if e.equivalent is not None]
        counts = np.array([e.count for e in entries], dtype=float)
        self.mu_ref_ = float(np.dot(counts, [e.mean for e in entries]) / counts.sum())
        self.pair_means_ = values[:, 0]
        self.pair_counts_ = weights
        lam = weights / (weights + self.shrinkage)
        self.offline_shift_ = lam * (self.pair_means_ - self.mu_ref_)
        self.online_count_ = np.zeros_like(weights)
        self.online_sum_ = np.zeros_like(weights)
        self.shift_ = self.offline_shift_.copy()

    def _transform(self, x: np.ndarray, cells: np.ndarray) -> np.ndarray:
        cal = x - self.shift_[cells]
        np.clip(cal, -1.0, 1.0, out=cal)
        cal += 1.0
        cal *= 0.5
        return np.clip(cal, 0.0, 1.0, out=cal)

    def partial_fit(self, scores: Scores, ref_langs: Codes, out_langs: Codes) -> MeanCalibrator:
        """Add training *mismatch* scores (a rollout against another prompt's reference).

        NaN is ignored; inputs are validated as in :meth:`transform`, not counted in
        :meth:`metric_sums`.

        Parameters
        ----------
        scores : array-like of float, shape (n,)
            Raw cosines of rollouts against other prompts' references.
        ref_langs, out_langs : sequence of str, shape (n,)
            Language of each item's reference and of its output.

        Returns
        -------
        MeanCalibrator
            ``self``.
        """
        if self.online is None:
            raise ValueError("online adjustment is off: construct with online=<prior strength>")
        x, cells = self._prepare(scores, ref_langs, out_langs, count=False)
        seen = ~np.isnan(x)
        size = self.shift_.size
        self.online_count_ += np.bincount(cells[seen], minlength=size)
        self.online_sum_ += np.bincount(cells[seen], weights=x[seen], minlength=size)
        self._blend()
        return self

    def _blend(self) -> None:
        count = self.online_count_
        total = count.sum()
        if total == 0:
            self.shift_ = self.offline_shift_.copy()
            return
        # The pooled shift compares the training mismatches with the offline means of the
        # same cells, weighted alike, so that the mix of pairs seen does not pass for a shift.
        pooled = (self.online_sum_.sum() - np.dot(count, self.mismatch_means_)) / total
        with np.errstate(invalid="ignore", divide="ignore"):
            own = np.where(count > 0, self.online_sum_ / count - self.mismatch_means_, 0.0)
        prior = float(self.online)
        self.shift_ = self.offline_shift_ + (count * own + prior * pooled) / (count + prior)

    def _online_state(self) -> dict[str, Any] | None:
        if self.online is None:
            return None
        return {"count": self.online_count_.tolist(), "sum": self.online_sum_.tolist()}

    def _load_online_state(self, state: dict[str, Any] | None) -> None:
        if (state is None) != (self.online is None):
            raise ValueError("state and calibrator disagree on whether online adjustment is on")
        if state is not None:
            count, total = np.asarray(state["count"], float), np.asarray(state["sum"], float)
            if count.shape != self.online_count_.shape or total.shape != count.shape:
                raise ValueError(
                    f"online statistics of shape {count.shape} do not fit "
                    f"{self.online_count_.shape}"
                )
            self.online_count_, self.online_sum_ = count, total
            self._blend()


class QuantileCalibrator(BaseCalibrator):
    """Quantile calibration: the pair's empirical CDF of raw scores, as the authors' runs.

    ``u = F_pair(s)``: the share of the pair's offline scores below ``s``, piecewise-linear
    between its knots (right-continuous at tied knots), 0 below the smallest knot, 1 from
    the largest; non-decreasing in ``s``.

    ``u`` is a rank, not a similarity, so a pair whose cosines all sit higher (same
    language, a language the embedder favours) gets no higher rewards for it. With
    ``knots="mixture"`` (the reference) the rank is among the pair's pooled kinds: comparable
    across pairs only if every pool has the same mix of kinds (the pair builder must ensure).
    With ``knots="equivalent"`` it is among correct answers only: comparable whatever the
    mix, but every answer below the pair's lowest equivalent gets 0 (no gradient among
    wrong answers).

    Parameters
    ----------
    upper_anchor : bool, default False
        First map ``s <- min(1, s / U)`` with the pair's ``upper_anchor`` U, as the reference,
        and the knots alike: ``u`` is unchanged below the knot interval holding U and is 1
        for every ``s >= U`` (the anchor saturates the top).
    knots : {"mixture", "equivalent"}, default "mixture"
        Which knots define the CDF (see above).
    backoff : sequence of str, default ("reverse", "same_language", "marginal", "global")
        Rules for a pair without its own knots; must end with ``"global"``.

    Examples
    --------
    >>> from lrpo.calibration import CalibrationTable, Provenance
    >>> table = CalibrationTable.from_scores(
    ...     {("en", "de"): {"equivalent": [0.8, 0.9], "mismatch": [0.2, 0.3, 0.5]}},
    ...     embedder="e5", languages=["en", "de"], ordered=True,
    ...     provenance=Provenance(source="doctest"), quantile_levels=(0.0, 0.5, 1.0))
    >>> calibrator = QuantileCalibrator().fit(table)  # knots 0.2, 0.5, 0.9
    >>> calibrator([0.1, 0.5, 0.7, 0.95], ["en"] * 4, ["de"] * 4).round(6).tolist()
    [0.0, 0.5, 0.75, 1.0]
    """

    _params = ("upper_anchor", "knots", "backoff")

    def __init__(
        self,
        *,
        upper_anchor: bool = False,
        knots: Literal["mixture", "equivalent"] = "mixture",
        backoff: Sequence[str] = BACKOFF_RULES,
    ) -> None:
        super().__init__(backoff=backoff, upper_anchor=upper_anchor, knots=knots)

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.upper_anchor, bool):
            raise ValueError(f"upper_anchor must be a bool, got {self.upper_anchor!r}")
        if self.knots not in ("mixture", "equivalent"):
            raise ValueError(f"knots must be 'mixture' or 'equivalent', got {self.knots!r}")

    def _fit(self, table: CalibrationTable) -> None:
        def extract(entry: PairStats) -> tuple[float, np.ndarray] | None:
            if self.knots == "mixture":
                kinds = (entry.equivalent, entry.mismatch, entry.hard_negative)
                weight = sum(stats.count for stats in kinds if stats is not None)
                return float(weight), np.array([*entry.mixture_knots, entry.upper_anchor])
            eq = entry.equivalent
            return (
                None if eq is None else (float(eq.count), np.array([*eq.knots, entry.upper_anchor]))
            )

        def repair(vector: np.ndarray) -> np.ndarray:
            knots = np.maximum.accumulate(np.clip(vector[:-1], -1.0, 1.0))
            return np.array([*knots, min(max(vector[-1], 1e-6), 1.0)])

        values, _, self.cell_sources_ = self.index_.resolve(table, extract, self._backoff, repair)
        self.levels_ = np.asarray(table.quantile_levels, dtype=float)
        self.anchors_ = values[:, -1].copy()
        knots = values[:, :-1]
        if self.upper_anchor:
            knots = np.minimum(1.0, knots / self.anchors_[:, None])
        self.knots_ = knots
        self._build_segments()

    def _build_segments(self) -> None:
        """Per cell, segment j in 0..m covers [knot j-1, knot j): start, slope and bounds."""
        knots, levels = self.knots_, self.levels_
        cells, m = knots.shape
        self._lo_knot = np.full((cells, m + 1), -1.0)
        self._lo_level = np.empty((cells, m + 1))
        self._hi_level = np.empty((cells, m + 1))
        self._slope = np.zeros((cells, m + 1))
        self._lo_knot[:, 1:] = knots
        self._lo_level[:, 0], self._lo_level[:, 1:] = levels[0], levels
        self._hi_level[:, :-1], self._hi_level[:, -1] = levels, levels[-1]
        width = np.diff(knots, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._slope[:, 1:-1] = np.where(width > 0, np.diff(levels) / width, 0.0)
        for name in ("_lo_knot", "_lo_level", "_hi_level", "_slope"):
            setattr(self, name, getattr(self, name).ravel())
        self._search = (knots + _OFFSET * np.arange(cells)[:, None]).ravel()

    def _transform(self, x: np.ndarray, cells: np.ndarray) -> np.ndarray:
        if self.upper_anchor:
            x = np.minimum(1.0, x / self.anchors_[cells])
        m = self.knots_.shape[1]
        found = np.searchsorted(self._search, x + _OFFSET * cells, side="right")
        found -= cells * m
        np.clip(found, 0, m, out=found)
        segment = cells * (m + 1) + found
        lo = self._lo_level[segment]
        u = x - self._lo_knot[segment]
        u *= self._slope[segment]
        u += lo
        out = np.clip(u, lo, self._hi_level[segment], out=u)
        out[np.isnan(x)] = np.nan
        return out


class ProbabilityCalibrator(BaseCalibrator):
    """Probability calibration: the pair's chance that an answer with cosine ``s`` is an
    equivalent, ``r = sigmoid(a_pair * s + c_pair)``, increasing in ``s``.

    Mean calibration aligns the pairs' correct answers but keeps the embedder's narrow range
    (a wrong answer still earns most of a right one); quantile calibration ranks within a
    pair. This one is fitted per pair as a logistic regression of the table's equivalents
    against its wrong answers (hard negatives and mismatches, half the weight each, as many
    in total as the equivalents), so a correct answer scores near 1 and a wrong one near 0 in
    every pair, with the pair's own boundary between them. Each kind enters as its quantile
    knots; ``ridge`` bounds the slope where a pair's kinds do not overlap.

    Parameters
    ----------
    ridge : float, default 1e-5
        L2 penalty on the slope ``a`` (larger: flatter, more tolerant of a domain shift).
    backoff : sequence of str, default ("reverse", "same_language", "marginal", "global")
        Rules for a pair without its own equivalents or wrong answers; must end with
        ``"global"``.
    """

    _params = ("ridge", "backoff")

    def __init__(self, *, ridge: float = 1e-5, backoff: Sequence[str] = BACKOFF_RULES) -> None:
        super().__init__(backoff=backoff, ridge=ridge)

    def _check_params(self) -> None:
        super()._check_params()
        if not (_is_finite_number(self.ridge) and self.ridge > 0):
            raise ValueError(f"ridge must be a finite number > 0, got {self.ridge!r}")

    def _fit(self, table: CalibrationTable) -> None:
        def extract(entry: PairStats) -> tuple[float, np.ndarray] | None:
            wrong = [s for s in (entry.hard_negative, entry.mismatch) if s is not None]
            if entry.equivalent is None or not wrong:
                return None
            hard, mismatch = wrong[0].knots, wrong[-1].knots
            return float(entry.equivalent.count), np.array(
                [*entry.equivalent.knots, *hard, *mismatch]
            )

        def repair(vector: np.ndarray) -> np.ndarray:
            parts = np.clip(vector.reshape(3, -1), -1.0, 1.0)
            return np.maximum.accumulate(parts, axis=1).ravel()

        values, _, self.cell_sources_ = self.index_.resolve(table, extract, self._backoff, repair)
        self.slope_, self.intercept_ = _fit_logistic(values.reshape(len(values), 3, -1), self.ridge)

    def _transform(self, x: np.ndarray, cells: np.ndarray) -> np.ndarray:
        return expit(self.slope_[cells] * x + self.intercept_[cells])


def _fit_logistic(
    knots: np.ndarray, ridge: float, iterations: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, ``(a, c)`` of the weighted logistic regression of ``knots[:, 0]`` (label 1,
    weight 1 in total) against ``knots[:, 1]`` and ``knots[:, 2]`` (label 0, weight 1/2 each),
    with ``ridge * a**2 / 2`` added: Newton's method on every cell at once (convex)."""
    cells, _, m = knots.shape
    x = knots.reshape(cells, -1)
    y = np.repeat([1.0, 0.0, 0.0], m)
    w = np.repeat([1.0, 0.5, 0.5], m) / m
    a, c = np.zeros(cells), np.zeros(cells)
    for _ in range(iterations):
        p = expit(a[:, None] * x + c[:, None])
        r = w * (p - y)
        h = w * p * (1.0 - p)
        grad_a = (r * x).sum(axis=1) + ridge * a
        grad_c = r.sum(axis=1)
        h_aa = (h * x * x).sum(axis=1) + ridge
        h_ac = (h * x).sum(axis=1)
        h_cc = h.sum(axis=1) + 1e-12
        det = h_aa * h_cc - h_ac**2
        a -= (h_cc * grad_a - h_ac * grad_c) / det
        c -= (h_aa * grad_c - h_ac * grad_a) / det
    return a, c
