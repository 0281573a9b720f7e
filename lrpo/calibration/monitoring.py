"""What a calibrator counted while calibrating, as :class:`~lrpo.metrics.MetricSums`.

A calibrator never fails on a pair its table lacks (back-off serves it), so these counts are
how a run learns how much of its reward came from estimated statistics, and which languages
it met that the table does not know. They are monitoring only: nothing calibrated depends on
them, and they are not part of a calibrator's saved state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from lrpo.metrics import MetricSums

from .backoff import BACKOFF_RULES, PairIndex

__all__ = ["CellCounts", "calibration_metrics"]

_PREFIX = "calibration/"
# Sums keyed by name (a pair, a code) -> the metric they are logged as.
_PER_NAME = {"missing": "missing_pair", "unknown": "unknown_language"}


class CellCounts:
    """Items calibrated per pair cell since the last reset, with the codes of unknown languages.

    The hot path adds one ``bincount`` per batch; names are only looked up when the sums are
    read. Items with a language the table does not know share one cell per side, so their
    codes are kept apart in a ``Counter`` (a loop over those few items only).

    Parameters
    ----------
    index : PairIndex
        The fitted calibrator's cells.
    sources : ndarray of int8, shape (index.size**2,)
        Each cell's source, an index into :data:`~lrpo.calibration.backoff.SOURCES`.
    """

    def __init__(self, index: PairIndex, sources: np.ndarray) -> None:
        self.index = index
        self.sources = sources
        self.per_cell = np.zeros(sources.size, dtype=np.int64)
        self.nan_scores = 0
        self.outside: Counter[tuple[str, str]] = Counter()

    def add(
        self, cells: np.ndarray, ref: np.ndarray, out: np.ndarray, known: np.ndarray, n_nan: int
    ) -> None:
        """Count a batch: its cells, its codes, which items have both languages in the table."""
        self.per_cell += np.bincount(cells, minlength=self.per_cell.size)
        self.nan_scores += n_nan
        if not known.all():
            outside = ~known
            self.outside.update(zip(ref[outside].tolist(), out[outside].tolist(), strict=True))

    def sums(self) -> MetricSums:
        """The counts, keyed as :func:`calibration_metrics` reads them.

        Returns
        -------
        MetricSums
            ``scores``, ``nan_scores``, ``backoff/<rule>`` for every rule,
            ``missing/<ref>/<out>`` and ``unknown/<code>``; derived by
            :func:`calibration_metrics`.
        """
        per_cell, sources = self.per_cell, self.sources
        by_source = np.bincount(sources, weights=per_cell, minlength=1 + len(BACKOFF_RULES))
        sums = {"scores": float(per_cell.sum()), "nan_scores": float(self.nan_scores)}
        rules = zip(BACKOFF_RULES, by_source[1:].tolist(), strict=True)
        sums.update((f"backoff/{rule}", n) for rule, n in rules)
        size, known = self.index.size, len(self.index.languages)
        for cell in np.flatnonzero((per_cell > 0) & (sources > 0)).tolist():
            if cell // size < known and cell % size < known:
                ref, out = self.index.name(cell)
                sums[f"missing/{ref}/{out}"] = float(per_cell[cell])
        languages = set(self.index.languages)
        for (ref, out), n in self.outside.items():
            key = f"missing/{ref}/{out}"
            sums[key] = sums.get(key, 0.0) + n
            for code in {ref, out} - languages:
                sums[f"unknown/{code}"] = sums.get(f"unknown/{code}", 0.0) + n
        return MetricSums(sums, calibration_metrics)


def calibration_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of a calibrator's ``metric_sums``.

    ``calibration/scores`` (items calibrated), ``calibration/nan_scores``;
    ``calibration/backoff/<rule>`` (items whose pair was served by that back-off rule, for
    every rule) and ``calibration/backoff_rate`` (their share of the items; NaN without
    items); ``calibration/missing_pair/<ref>/<out>`` (items per pair without its own table
    entry) and ``calibration/unknown_language/<code>`` (items per code the table does not
    know).

    Parameters
    ----------
    sums : mapping of str to float
        Merged sums of :meth:`CellCounts.sums`.

    Returns
    -------
    dict of str to float
    """
    scores = sums.get("scores", 0.0)
    backed_off = sum(sums.get(f"backoff/{rule}", 0.0) for rule in BACKOFF_RULES)
    metrics = {
        f"{_PREFIX}scores": float(scores),
        f"{_PREFIX}nan_scores": float(sums.get("nan_scores", 0.0)),
        f"{_PREFIX}backoff_rate": float(backed_off / scores) if scores else float("nan"),
    }
    metrics.update(
        (f"{_PREFIX}backoff/{rule}", float(sums.get(f"backoff/{rule}", 0.0)))
        for rule in BACKOFF_RULES
    )
    for key, value in sorted(sums.items()):
        kind, _, rest = key.partition("/")
        if kind in _PER_NAME:
            metrics[f"{_PREFIX}{_PER_NAME[kind]}/{rest}"] = float(value)
    return metrics
