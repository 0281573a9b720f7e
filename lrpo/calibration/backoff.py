"""Language pairs as integer cells, and the back-off for pairs a table does not have.

With the table's L languages plus one slot for "a language the table does not know", every
(ref_lang, out_lang) of a batch is a cell ``ref * (L + 1) + out`` of a dense (L + 1)^2 grid.
Statistics are resolved for every cell once, at fit time, so calibrating a batch is a gather.

Back-off rules, tried in the configured order for a cell without its own entry:

``reverse``
    the (out_lang, ref_lang) entry of an ordered table (an unordered table serves both orders
    already, so this rule never fires there).
``same_language``
    for (a, a), the count-weighted mean over the other same-language entries: a paraphrase in
    one language is more like a paraphrase in another than like a translation, so Arabic's
    own equivalents are better estimated from German's and Japanese's paraphrases than from
    Arabic's translations. Does not apply to pairs of two languages, nor without any
    same-language entry.
``marginal``
    an additive two-way estimate from all entries: ``row(ref) + col(out) - grand``, where
    ``row(a)`` is the count-weighted mean of the statistic over entries with reference
    language ``a`` (both orders of an unordered entry count), ``col(b)`` likewise over output
    language ``b`` and ``grand`` over all. A side without entries (a language unknown to the
    table) contributes ``grand``; with neither side, the rule does not apply. Its weight is the
    smaller of the two sides' counts. For knots, the mean of quantile vectors is the
    Wasserstein barycentre; the estimate is then made non-decreasing and clipped to [-1, 1].
``global``
    the count-weighted mean over all entries (always last: nothing crashes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .table import CalibrationTable

__all__ = ["BACKOFF_RULES", "EXACT", "SOURCES", "PairIndex", "check_backoff"]

#: Back-off rule names, in their default order.
BACKOFF_RULES = ("reverse", "same_language", "marginal", "global")
#: Source label of a cell that has its own table entry.
EXACT = "exact"
#: How a cell is served; :meth:`PairIndex.resolve` gives each cell an index into this.
SOURCES = (EXACT, *BACKOFF_RULES)


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

    # ---------------------------------------------------------------- encoding
    def encode(self, codes: np.ndarray) -> np.ndarray:
        """Index of each code in the table's languages (``len(languages)`` if unknown).

        A binary search of each code among the table's sorted codes, then a check that it
        was found: no per-item Python, and no sort of the batch (``np.unique`` would sort it,
        ten times slower on a million codes). Any str code works, of any length or script.

        Parameters
        ----------
        codes : ndarray of str, shape (n,)

        Returns
        -------
        ndarray of intp, shape (n,)
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

    # -------------------------------------------------------------- resolution
    def resolve(
        self,
        table: CalibrationTable,
        extract: Callable[[object], tuple[float, np.ndarray] | None],
        backoff: Sequence[str],
        repair: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Statistics of every cell, with the rule that gave them.

        Parameters
        ----------
        table : CalibrationTable
        extract : callable
            ``extract(pair_stats) -> (weight, vector)``, or ``None`` when the entry lacks
            what the calibrator needs (e.g. no equivalents).
        backoff : sequence of str
            Rules to try, see the module notes.
        repair : callable, optional
            Applied to marginal estimates (e.g. make knots monotone).

        Returns
        -------
        values : ndarray of shape (size**2, d)
        weights : ndarray of shape (size**2,)
        sources : ndarray of int8, index into :data:`SOURCES`
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
        same = sum(found[cell][0] * np.asarray(found[cell][1]) for cell in diagonal) / max(
            same_w, 1
        )

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
