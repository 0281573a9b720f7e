"""Shared machinery of the calibrators: inputs, pair cells, back-off counters, checkpoints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .backoff import BACKOFF_RULES, PairIndex, check_backoff, source_names
from .table import SCORE_TOLERANCE, CalibrationTable

__all__ = ["BaseCalibrator", "NotFittedError"]

#: Version of :meth:`BaseCalibrator.state_dict`.
STATE_VERSION = 1


class NotFittedError(ValueError, AttributeError):
    """Raised when a calibrator is used before :meth:`fit`."""


def _codes(values: Sequence[str] | np.ndarray, name: str) -> np.ndarray:
    codes = np.asarray(values)
    if codes.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of language codes, got {codes.shape}")
    if codes.size and codes.dtype.kind != "U":
        raise ValueError(
            f"{name} must hold str language codes, got dtype {codes.dtype} (an undetected "
            "language, None, must be gated before calibration)"
        )
    return codes if codes.size else codes.astype("<U1")


class BaseCalibrator:
    """Common parts of :class:`MeanCalibrator` and :class:`QuantileCalibrator`.

    Counters (monitoring only; calibrating changes nothing else, and :meth:`reset_counters`
    clears them):

    ``n_scores_``
        scores calibrated since fit;
    ``nan_scores_``
        NaN scores (returned as NaN; the reward layer turns them into counted zeros);
    ``backoff_counts_``
        ``Counter`` of items per back-off rule (``"reverse"``, ``"same_language"``, ...);
    ``missing_pairs_``
        ``Counter`` of items per (ref_lang, out_lang) absent from the table;
    ``unknown_languages_``
        ``Counter`` of items per language code the table does not know at all.
    """

    _params: tuple[str, ...] = ("backoff",)

    def __init__(self, *, backoff: Sequence[str] = BACKOFF_RULES) -> None:
        self.backoff = backoff

    # --------------------------------------------------------------- parameters
    def get_params(self) -> dict[str, Any]:
        """The constructor settings (JSON-safe)."""
        params = {name: getattr(self, name) for name in self._params}
        params["backoff"] = list(params["backoff"])
        return params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        """Check every setting at once (the one place for parameter constraints)."""
        self._backoff = check_backoff(self.backoff)

    # -------------------------------------------------------------------- fit
    def fit(self, table: CalibrationTable) -> BaseCalibrator:
        """Learn per-pair statistics from a table; returns ``self``."""
        if not isinstance(table, CalibrationTable):
            raise TypeError(f"fit expects a CalibrationTable, got {type(table).__name__}")
        self._check_params()
        self.embedder_ = table.embedder
        self.languages_ = table.languages
        self.index_ = PairIndex(table.languages)
        self._fit(table)
        self.reset_counters()
        return self

    def _fit(self, table: CalibrationTable) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(table) with a "
                "CalibrationTable first"
            )

    # -------------------------------------------------------------- transform
    def __call__(
        self,
        scores: Sequence[float] | np.ndarray,
        ref_langs: Sequence[str] | np.ndarray,
        out_langs: Sequence[str] | np.ndarray,
    ) -> np.ndarray:
        """Calibrated rewards in [0, 1] (NaN where the score is NaN); see :meth:`transform`."""
        return self.transform(scores, ref_langs, out_langs)

    def transform(
        self,
        scores: Sequence[float] | np.ndarray,
        ref_langs: Sequence[str] | np.ndarray,
        out_langs: Sequence[str] | np.ndarray,
    ) -> np.ndarray:
        """Calibrate raw cosine scores of a batch of mixed language pairs.

        Parameters
        ----------
        scores : array-like of float, shape (n,)
            Raw cosines in [-1, 1] (within ``SCORE_TOLERANCE``, then clipped); NaN allowed.
        ref_langs, out_langs : sequence of str, shape (n,)
            Language of each item's reference and of its output (e.g. the detected language).

        Returns
        -------
        ndarray of float64, shape (n,)
        """
        x, cells = self._prepare(scores, ref_langs, out_langs)
        return self._transform(x, cells)

    def _transform(self, x: np.ndarray, cells: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _prepare(self, scores, ref_langs, out_langs) -> tuple[np.ndarray, np.ndarray]:
        """Validated float scores (clipped to [-1, 1]) and the cell of each item; counts."""
        self._check_fitted()
        x = np.asarray(scores, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"scores must be 1-D, got shape {x.shape}")
        ref, out = _codes(ref_langs, "ref_langs"), _codes(out_langs, "out_langs")
        if not len(x) == len(ref) == len(out):
            raise ValueError(
                "scores, ref_langs and out_langs must have the same length, got "
                f"{len(x)}, {len(ref)} and {len(out)}"
            )
        if x.size:
            low, high = x.min(), x.max()
            n_nan = int(np.isnan(x).sum()) if np.isnan(low) else 0
            if n_nan:
                finite = x[~np.isnan(x)]
                low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
            if low < -1.0 - SCORE_TOLERANCE or high > 1.0 + SCORE_TOLERANCE:
                bad = np.flatnonzero(np.abs(x) > 1.0 + SCORE_TOLERANCE)[0]
                raise ValueError(f"scores must be cosines in [-1, 1], got {x[bad]} at index {bad}")
            self.nan_scores_ += n_nan
            x = np.clip(x, -1.0, 1.0)
        cells, ref_index, out_index = self.index_.cells(ref, out)
        self._count(cells, ref, out, ref_index, out_index)
        return x, cells

    # --------------------------------------------------------------- counters
    def reset_counters(self) -> None:
        """Zero the monitoring counters (see the class notes)."""
        self.n_scores_ = 0
        self.nan_scores_ = 0
        self.backoff_counts_: Counter[str] = Counter()
        self.missing_pairs_: Counter[tuple[str, str]] = Counter()
        self.unknown_languages_: Counter[str] = Counter()

    def _count(self, cells, ref, out, ref_index, out_index) -> None:
        self.n_scores_ += int(cells.size)
        sources = self.cell_sources_
        per_cell = np.bincount(cells, minlength=sources.size)
        names = source_names()
        unknown = len(self.languages_)
        for cell in np.flatnonzero((per_cell > 0) & (sources > 0)):
            self.backoff_counts_[names[sources[cell]]] += int(per_cell[cell])
            a, b = divmod(int(cell), self.index_.size)
            if a < unknown and b < unknown:
                self.missing_pairs_[self.index_.name(int(cell))] += int(per_cell[cell])
        outside = (ref_index == unknown) | (out_index == unknown)
        if outside.any():  # a loop over the few items with a language the table lacks
            pairs = Counter(zip(ref[outside].tolist(), out[outside].tolist(), strict=True))
            known = set(self.languages_)
            for (r, o), n in pairs.items():
                self.missing_pairs_[r, o] += n
                for code in {r, o} - known:
                    self.unknown_languages_[code] += n

    def pair_sources(self) -> dict[tuple[str, str], str]:
        """How each pair of the table's languages is served: exact or a back-off rule."""
        self._check_fitted()
        names = source_names()
        size = self.index_.size
        return {
            self.index_.name(a * size + b): names[self.cell_sources_[a * size + b]]
            for a in range(size - 1)
            for b in range(size - 1)
        }

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Settings, counters and online statistics (JSON-safe); the table stays a file."""
        self._check_fitted()
        return {
            "format_version": STATE_VERSION,
            "calibrator": type(self).__name__,
            "params": self.get_params(),
            "embedder": self.embedder_,
            "languages": list(self.languages_),
            "counters": {
                "n_scores": self.n_scores_,
                "nan_scores": self.nan_scores_,
                "backoff_counts": dict(self.backoff_counts_),
                "missing_pairs": [[r, o, n] for (r, o), n in self.missing_pairs_.items()],
                "unknown_languages": dict(self.unknown_languages_),
            },
            "online": self._online_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a calibrator fitted on the same table and settings."""
        self._check_fitted()
        if state.get("format_version") != STATE_VERSION:
            raise ValueError(
                f"calibrator state format {state.get('format_version')!r} is not {STATE_VERSION}"
            )
        expected = {
            "calibrator": type(self).__name__,
            "params": self.get_params(),
            "embedder": self.embedder_,
            "languages": list(self.languages_),
        }
        differ = sorted(k for k, v in expected.items() if state.get(k) != v)
        if differ:
            raise ValueError(
                f"state does not match this calibrator (fields differ: {differ}); fit it on the "
                "same table with the same settings first"
            )
        counters = state["counters"]
        self.n_scores_ = int(counters["n_scores"])
        self.nan_scores_ = int(counters["nan_scores"])
        self.backoff_counts_ = Counter(counters["backoff_counts"])
        self.missing_pairs_ = Counter({(r, o): n for r, o, n in counters["missing_pairs"]})
        self.unknown_languages_ = Counter(counters["unknown_languages"])
        self._load_online_state(state["online"])

    def _online_state(self) -> dict[str, Any] | None:
        return None

    def _load_online_state(self, state: dict[str, Any] | None) -> None:
        if state is not None:
            raise ValueError(f"{type(self).__name__} has no online statistics to restore")
