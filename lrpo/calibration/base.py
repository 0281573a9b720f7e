"""Shared machinery of the calibrators: inputs, pair cells, monitoring sums, checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lrpo.metrics import MetricSums

from .backoff import BACKOFF_RULES, SOURCES, CellCounts, PairIndex, check_backoff
from .entries import SCORE_TOLERANCE
from .table import CalibrationTable

__all__ = ["BaseCalibrator", "NotFittedError"]

#: Version of :meth:`BaseCalibrator.state_dict`.
STATE_VERSION = 2
#: Versions :meth:`BaseCalibrator.load_state_dict` reads: version 1 also held the monitoring
#: counters, which are ignored (monitoring is not state).
_READABLE_VERSIONS = (1, STATE_VERSION)
Scores = Sequence[float] | np.ndarray
Codes = Sequence[str] | np.ndarray


class NotFittedError(ValueError, AttributeError):
    """Raised when a calibrator is used before :meth:`fit`."""


def _codes(values: Codes, name: str) -> np.ndarray:
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

    Calibrating changes no state but the monitoring counts that :meth:`metric_sums` hands
    out: items calibrated, NaN scores, items per back-off rule, per pair without its own
    table entry and per language the table does not know.
    """

    _params: tuple[str, ...] = ("backoff",)

    def __init__(self, *, backoff: Sequence[str] = BACKOFF_RULES, **params: Any) -> None:
        unknown = sorted(set(params) - set(self._params))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no settings {unknown}; it has {self._params}"
            )
        self.backoff = backoff
        for name, value in params.items():  # a subclass's settings, as named in its _params
            setattr(self, name, value)

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

    def fit(self, table: CalibrationTable) -> BaseCalibrator:
        """Learn per-pair statistics from a table; returns ``self``."""
        if not isinstance(table, CalibrationTable):
            raise TypeError(f"fit expects a CalibrationTable, got {type(table).__name__}")
        self._check_params()
        self.embedder_ = table.embedder
        self.languages_ = table.languages
        self.index_ = PairIndex(table.languages)
        self._fit(table)
        self._counts = CellCounts(self.index_, self.cell_sources_)
        return self

    def _fit(self, table: CalibrationTable) -> None:
        raise NotImplementedError

    def check_fitted(self) -> None:
        """Fail early, where a calibrator is handed over, rather than at its first batch.

        Raises
        ------
        NotFittedError
            If :meth:`fit` has not been called.
        """
        if not hasattr(self, "index_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(table) with a "
                "CalibrationTable first"
            )

    def transform(self, scores: Scores, ref_langs: Codes, out_langs: Codes) -> np.ndarray:
        """Calibrate raw cosine scores of a batch of mixed language pairs (also ``__call__``).

        Parameters
        ----------
        scores : array-like of float, shape (n,)
            Raw cosines in [-1, 1] (within ``SCORE_TOLERANCE``, then clipped); NaN allowed.
        ref_langs, out_langs : sequence of str, shape (n,)
            Language of each item's reference and of its output (e.g. the detected language).

        Returns
        -------
        ndarray of float64, shape (n,)
            Calibrated rewards in [0, 1], NaN where the score is NaN.
        """
        x, cells = self._prepare(scores, ref_langs, out_langs, count=True)
        return self._transform(x, cells)

    __call__ = transform

    def _transform(self, x: np.ndarray, cells: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _prepare(
        self, scores: Scores, ref_langs: Codes, out_langs: Codes, *, count: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validated scores clipped to [-1, 1], the cell of each item; ``count`` monitors them."""
        self.check_fitted()
        x = np.asarray(scores, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"scores must be 1-D, got shape {x.shape}")
        ref, out = _codes(ref_langs, "ref_langs"), _codes(out_langs, "out_langs")
        if not len(x) == len(ref) == len(out):
            raise ValueError(
                "scores, ref_langs and out_langs must have the same length, got "
                f"{len(x)}, {len(ref)} and {len(out)}"
            )
        n_nan = 0
        if x.size:
            low, high = x.min(), x.max()
            n_nan = int(np.isnan(x).sum()) if np.isnan(low) else 0
            if n_nan:
                finite = x[~np.isnan(x)]
                low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
            if low < -1.0 - SCORE_TOLERANCE or high > 1.0 + SCORE_TOLERANCE:
                bad = np.flatnonzero(np.abs(x) > 1.0 + SCORE_TOLERANCE)[0]
                raise ValueError(f"scores must be cosines in [-1, 1], got {x[bad]} at index {bad}")
            x = np.clip(x, -1.0, 1.0)
        cells, ref_index, out_index = self.index_.cells(ref, out)
        if count:
            unknown = len(self.languages_)
            known = (ref_index < unknown) & (out_index < unknown)
            self._counts.add(cells, ref, out, known, n_nan)
        return x, cells

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Counts of the items calibrated since fit or the last reset, for the trainer's logs.

        Sums of several calibrators fitted alike (data-parallel ranks) merge by adding;
        :func:`~lrpo.calibration.backoff.calibration_metrics` lists the logged names
        (``calibration/backoff/<rule>``, ``calibration/missing_pair/<ref>/<out>``, ...).

        Parameters
        ----------
        reset : bool, default False
            Zero the counts after reading them (a new window).

        Returns
        -------
        MetricSums
            Counts; their ``metrics()`` are the logged names above.

        Examples
        --------
        >>> from lrpo.calibration import CalibrationTable, MeanCalibrator, Provenance
        >>> table = CalibrationTable.from_scores(
        ...     {("en", "de"): {"equivalent": [0.9, 0.8]}}, embedder="e5",
        ...     languages=["en", "de"], ordered=True, provenance=Provenance(source="doctest"))
        >>> calibrator = MeanCalibrator().fit(table)
        >>> _ = calibrator([0.9, 0.7], ["en", "sw"], ["de", "de"])
        >>> metrics = calibrator.metric_sums(reset=True).metrics()
        >>> metrics["calibration/backoff_rate"], metrics["calibration/unknown_language/sw"]
        (0.5, 1.0)
        """
        self.check_fitted()
        sums = self._counts.sums()
        if reset:
            self._counts = CellCounts(self.index_, self.cell_sources_)
        return sums

    def pair_sources(self) -> dict[tuple[str, str], str]:
        """How each pair of the table's languages is served: exact or a back-off rule."""
        self.check_fitted()
        size = self.index_.size
        return {
            self.index_.name(a * size + b): SOURCES[self.cell_sources_[a * size + b]]
            for a in range(size - 1)
            for b in range(size - 1)
        }

    def state_dict(self) -> dict[str, Any]:
        """Settings and online statistics (JSON-safe); the table stays a file.

        Returns
        -------
        dict
            Restored by :meth:`load_state_dict`; monitoring counts are not part of it.
        """
        self.check_fitted()
        return {"format_version": STATE_VERSION, **self._identity(), "online": self._online_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a calibrator fitted on the same table and settings.

        Parameters
        ----------
        state : dict
            From :meth:`state_dict`, of this version or version 1 (whose monitoring
            counters are ignored).

        Raises
        ------
        ValueError
            For another format version, or a state of another calibrator, table or settings.
        """
        self.check_fitted()
        version = state.get("format_version")
        if isinstance(version, bool) or version not in _READABLE_VERSIONS:
            raise ValueError(
                f"calibrator state format {version!r} is not one of {list(_READABLE_VERSIONS)}"
            )
        differ = sorted(k for k, v in self._identity().items() if state.get(k) != v)
        if differ:
            raise ValueError(
                f"state does not match this calibrator (fields differ: {differ}); fit it on the "
                "same table with the same settings first"
            )
        self._load_online_state(state["online"])

    def _identity(self) -> dict[str, Any]:
        """What a state must match: the calibrator, its settings and its table."""
        return {
            "calibrator": type(self).__name__,
            "params": self.get_params(),
            "embedder": self.embedder_,
            "languages": list(self.languages_),
        }

    def _online_state(self) -> dict[str, Any] | None:
        return None

    def _load_online_state(self, state: dict[str, Any] | None) -> None:
        if state is not None:
            raise ValueError(f"{type(self).__name__} has no online statistics to restore")
