"""Language pairs as integer cells, the back-off for pairs a table lacks, and their counts.

With the table's L languages plus one slot for "a language the table does not know", every
(ref_lang, out_lang) of a batch is a cell ``ref * (L + 1) + out`` of a dense (L + 1)^2 grid.
Statistics are resolved for every cell once, at fit time, so calibrating a batch is a gather.

Back-off rules, tried in the configured order for a cell without its own entry:

``reverse``
    the (out_lang, ref_lang) entry of an ordered table (an unordered one serves both orders).
``same_language``
    for (a, a), the count-weighted mean over the other same-language entries: a paraphrase in
    one language is more like a paraphrase in another than like a translation. Does not
    apply to pairs of two languages, nor without any same-language entry.
``marginal``
    an additive two-way estimate ``row(ref) + col(out) - grand``: count-weighted means over
    the entries with reference language ``ref`` (both orders of an unordered entry count),
    with output language ``out``, and over all. A side without entries contributes
    ``grand``; with neither side, the rule does not apply. Its weight is the smaller of the
    two sides' counts. For knots, the mean of quantile vectors is the Wasserstein
    barycentre; the estimate is then made non-decreasing and clipped to [-1, 1].
``global``
    the count-weighted mean over all entries (always last: nothing crashes).

:class:`CellCounts` counts what was calibrated per cell: how much of a run's reward came from
estimated statistics, and which languages it met that the table does not know. Monitoring
only: nothing calibrated depends on it, and it is not part of a calibrator's saved state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from lrpo.metrics import MetricSums

from .table import CalibrationTable

__all__ = [
    "BACKOFF_RULES",
    "EXACT",
    "SOURCES",
    "CellCounts",
    "PairIndex",
    "calibration_metrics",
    "check_backoff",
]

#: Back-off rule names, in their default order.
BACKOFF_RULES = ("reverse", "same_language", "marginal", "global")
#: Source label of a cell that has its own table entry.
EXACT = "exact"
#: How a cell is served; :meth:`PairIndex.resolve` gives each cell an index into this.
SOURCES = (EXACT, *BACKOFF_RULES)
_PREFIX = "calibration/"
# Sums keyed by name (a pair, a code) -> the metric they are logged as.
_PER_NAME = {"missing": "missing_pair", "unknown": "unknown_language"}


def check_backoff(backoff: Sequence[str]) -> tuple[str, ...]:
    """Validate a back-off order: distinct rules of :data:`BACKOFF_RULES`, ending in global."""
    rules = (backoff,) if isinstance(backoff, str) else tuple(backoff)
    unknown = [rule for rule in rules if rule not in BACKOFF_RULES]
    if unknown or len(set(rules)) != len(rules) or not rules or rules[-1] != "global":
        raise ValueError(
            f"backoff must list distinct rules among {BACKOFF_RULES} and end with 'global', "
            f"got {list(rules)}"
        )
    return rules


class PairIndex:
    """Encodes language codes to table indices and resolves statistics for every cell.

    Parameters
    ----------
    languages : sequence of str
        The table's languages; index ``len(languages)`` stands for any other code.
    """

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(languages)
        self.size = len(self.languages) + 1
        codes = np.array(self.languages, dtype=str)
        self._order = np.argsort(codes, kind="stable")
        self._sorted = codes[self._order]

    def encode(self, codes: np.ndarray) -> np.ndarray:
        """Index of each str code in the table's languages (``len(languages)`` if unknown).

        A binary search among the table's sorted codes: no per-item Python, and no sort of
        the batch (``np.unique`` would sort it, ten times slower on a million codes).
        """
        unknown = len(self.languages)
        if codes.size == 0 or unknown == 0:
            return np.full(codes.shape, unknown, dtype=np.intp)
        slot = np.searchsorted(self._sorted, codes)
        np.minimum(slot, unknown - 1, out=slot)
        return np.where(self._sorted[slot] == codes, self._order[slot], unknown)

    def cells(self, ref_codes: np.ndarray, out_codes: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(cell, ref_index, out_index)`` of each item."""
        ref, out = self.encode(ref_codes), self.encode(out_codes)
        return ref * self.size + out, ref, out

    def name(self, cell: int) -> tuple[str, str]:
        """The language codes of a cell whose languages are both known."""
        return self.languages[cell // self.size], self.languages[cell % self.size]

    def resolve(
        self,
        table: CalibrationTable,
        extract: Callable[[object], tuple[float, np.ndarray] | None],
        backoff: Sequence[str],
        repair: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(values, weights, sources)`` of every cell: shapes (size**2, d), (size**2,) and
        (size**2,), sources indexing :data:`SOURCES`.

        ``extract(pair_stats)`` gives an entry's ``(weight, vector)``, or ``None`` when it lacks
        what the calibrator needs (e.g. no equivalents); ``backoff`` lists the rules to try
        (see the module notes); ``repair`` is applied to marginal estimates (e.g. to make
        knots monotone).
        """
        found: dict[tuple[int, int], tuple[float, np.ndarray]] = {}
        for a, ref_lang in enumerate(self.languages):
            for b, out_lang in enumerate(self.languages):
                entry = table.pair(ref_lang, out_lang)
                if entry is not None and (stats := extract(entry)) is not None:
                    found[a, b] = stats
        if not found:
            raise ValueError(
                "the calibration table has no entry with the statistics this calibrator needs "
                "(e.g. no equivalents): rebuild it with equivalent pairs"
            )
        dim = len(next(iter(found.values()))[1])
        cells = self.size**2
        values = np.zeros((cells, dim))
        weights = np.zeros(cells)
        sources = np.full(cells, -1, dtype=np.int8)
        grid_w = np.zeros((self.size, self.size))
        grid_v = np.zeros((self.size, self.size, dim))
        for (a, b), (weight, vector) in found.items():
            cell = a * self.size + b
            values[cell], weights[cell], sources[cell] = vector, weight, 0
            grid_w[a, b], grid_v[a, b] = weight, vector

        # Count-weighted means; an unordered entry appears in both orders of the grid, but is
        # weighted once in the grand mean (as the reference's mu_ref over table rows).
        entries = {table.pair(*self.name(a * self.size + b)).key: found[a, b] for a, b in found}
        total = sum(w for w, _ in entries.values())
        grand = sum(w * np.asarray(v) for w, v in entries.values()) / total
        row_w, col_w = grid_w.sum(axis=1), grid_w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            row = np.einsum("ab,abd->ad", grid_w, grid_v) / row_w[:, None]
            col = np.einsum("ab,abd->bd", grid_w, grid_v) / col_w[:, None]
        row[row_w == 0], col[col_w == 0] = grand, grand
        diagonal = [(a, b) for a, b in found if a == b]
        same_w = sum(found[cell][0] for cell in diagonal)
        same = sum(found[c][0] * np.asarray(found[c][1]) for c in diagonal) / max(same_w, 1)

        for rule in backoff:
            code = SOURCES.index(rule)
            for cell in np.flatnonzero(sources < 0):
                a, b = divmod(int(cell), self.size)
                if rule == "reverse":
                    if table.ordered and (b, a) in found:
                        weights[cell], values[cell] = found[b, a]
                        sources[cell] = code
                elif rule == "same_language":
                    if a == b and diagonal:
                        values[cell], weights[cell], sources[cell] = same, same_w, code
                elif rule == "marginal":
                    if row_w[a] == 0 and col_w[b] == 0:
                        continue
                    estimate = row[a] + col[b] - grand
                    values[cell] = repair(estimate) if repair is not None else estimate
                    sides = [w for w in (row_w[a], col_w[b]) if w > 0]
                    weights[cell], sources[cell] = min(sides), code
                else:
                    values[cell], weights[cell], sources[cell] = grand, total, code
        return values, weights, sources


class CellCounts:
    """Items calibrated per cell since the last reset, with the codes of unknown languages.

    One ``bincount`` per batch; names are looked up when the sums are read. Unknown languages
    share one cell per side, so their codes are counted apart (a loop over those items only).
    """

    def __init__(self, index: PairIndex, sources: np.ndarray) -> None:
        self.index = index
        self.sources = sources  # each cell's index into SOURCES
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
        """The counts, keyed as :func:`calibration_metrics` reads them."""
        per_cell, sources = self.per_cell, self.sources
        by_source = np.bincount(sources, weights=per_cell, minlength=len(SOURCES))
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
    """The logged metrics of merged :meth:`CellCounts.sums`.

    ``calibration/scores`` (items calibrated), ``calibration/nan_scores``,
    ``calibration/backoff/<rule>`` (items served by each rule), ``calibration/backoff_rate``
    (their share; NaN without items), ``calibration/missing_pair/<ref>/<out>`` (items per
    pair without its own entry), ``calibration/unknown_language/<code>`` (items per code).
    """
    scores = sums.get("scores", 0.0)
    backed_off = [float(sums.get(f"backoff/{rule}", 0.0)) for rule in BACKOFF_RULES]
    metrics = {
        f"{_PREFIX}scores": float(scores),
        f"{_PREFIX}nan_scores": float(sums.get("nan_scores", 0.0)),
        f"{_PREFIX}backoff_rate": float(sum(backed_off) / scores) if scores else float("nan"),
    }
    metrics.update(
        (f"{_PREFIX}backoff/{rule}", n) for rule, n in zip(BACKOFF_RULES, backed_off, strict=True)
    )
    for key, value in sorted(sums.items()):
        kind, _, rest = key.partition("/")
        if kind in _PER_NAME:
            metrics[f"{_PREFIX}{_PER_NAME[kind]}/{rest}"] = float(value)
    return metrics
