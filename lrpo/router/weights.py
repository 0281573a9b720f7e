"""`RowWeights`: which table rows each context sums, with what weight, as sorted triples.

A batch touches few rows per context (one theme, maybe a region), so the weights are kept as
(row, column, weight) triples sorted by row. Building them costs microseconds; a scipy sparse
matrix costs about 0.3 ms to build, which dominated routing a single prompt.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["RowWeights", "concat_ranges"]


def concat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concat([arange(s, s + c) for s, c in zip(starts, counts)])`` without a Python loop."""
    ends = np.cumsum(counts)
    return np.repeat(starts - ends + counts, counts) + np.arange(ends[-1] if len(ends) else 0)


class RowWeights(NamedTuple):
    """A sparse ``(num_rows, num_cols)`` weight matrix as triples sorted by row.

    A named tuple, because every routing call builds two and a frozen dataclass costs more.
    """

    rows: np.ndarray  # (nnz,) int, non-decreasing
    cols: np.ndarray  # (nnz,) int
    weights: np.ndarray  # (nnz,) float
    shape: tuple[int, int]

    @classmethod
    def from_triples(
        cls, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
    ) -> RowWeights:
        """Sort triples by row (stable, so each row keeps its column order)."""
        order = np.argsort(rows, kind="stable")
        return cls(
            np.asarray(rows, dtype=np.int64)[order],
            np.asarray(cols, dtype=np.int64)[order],
            np.asarray(weights, dtype=np.float64)[order],
            shape,
        )

    @property
    def nnz(self) -> int:
        return len(self.rows)

    @property
    def one_per_row(self) -> bool:
        """Whether every row has exactly one entry (``rows`` is ``0..n-1``): the common case of
        one theme label per context, where sums are single terms and need no reduction."""
        size = self.nnz
        return size == self.shape[0] and np.count_nonzero(self.rows == np.arange(size)) == size

    def sum_rows(self, table: np.ndarray, squared: bool = False) -> np.ndarray:
        """``W @ table`` (or ``W**2 @ table``): each row's weighted sum of table rows."""
        weights = self.weights**2 if squared else self.weights
        if self.one_per_row:
            return table[self.cols] * weights[:, None]
        out = np.zeros((self.shape[0], table.shape[1]))
        if self.nnz:
            firsts = np.flatnonzero(np.diff(self.rows, prepend=-1))  # rows are sorted
            terms = table[self.cols] * weights[:, None]
            out[self.rows[firsts]] = np.add.reduceat(terms, firsts, axis=0)
        return out

    def take(self, rows: np.ndarray) -> RowWeights:
        """The matrix whose row ``i`` is row ``rows[i]`` of this one."""
        counts = np.bincount(self.rows, minlength=self.shape[0])
        starts = np.cumsum(counts) - counts
        entries = concat_ranges(starts[rows], counts[rows])
        new_rows = np.repeat(np.arange(len(rows)), counts[rows])
        return RowWeights(
            new_rows, self.cols[entries], self.weights[entries], (len(rows), self.shape[1])
        )
