"""Contexts encoded for a batch: which table rows each sums, with what weight, as triples.

Triples cost microseconds to build; a scipy sparse matrix about 0.3 ms, which dominated
routing a single prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from .context import preview

__all__ = ["Columns", "EncodedBatch", "RowWeights", "add_anchor_weights", "theme_region_pairs"]


def concat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concat([arange(s, s + c) for s, c in zip(starts, counts)])`` without a Python loop."""
    ends = np.cumsum(counts)
    return np.repeat(starts - ends + counts, counts) + np.arange(ends[-1] if len(ends) else 0)


class RowWeights(NamedTuple):
    """A sparse ``(num_rows, num_cols)`` weight matrix as triples sorted by row (a named
    tuple: every routing call builds two)."""

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

    def sum_rows(self, table: np.ndarray, squared: bool = False) -> np.ndarray:
        """``W @ table`` (or ``W**2 @ table``): each row's weighted sum of table rows."""
        weights = self.weights**2 if squared else self.weights
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


def theme_region_pairs(
    themes: RowWeights, regions: RowWeights, inverse: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Every (prompt, theme row, weight, region row) of the prompts (``inverse`` maps them to
    the unique contexts weighed); each theme pairs with each region, region -1 means none."""
    themes, regions = themes.take(inverse), regions.take(inverse)
    per_prompt = np.bincount(regions.rows, minlength=len(inverse))
    region_starts = np.cumsum(per_prompt) - per_prompt
    repeats = np.maximum(per_prompt, 1)[themes.rows]
    prompt = np.repeat(themes.rows, repeats)
    offset = concat_ranges(np.zeros_like(repeats), repeats)
    padded = np.append(regions.cols, -1)
    has_region = per_prompt[prompt] > 0
    position = np.where(has_region, region_starts[prompt] + offset, len(padded) - 1)
    return (
        prompt,
        np.repeat(themes.cols, repeats),
        np.repeat(themes.weights, repeats),
        padded[position],
    )


class EncodedBatch(NamedTuple):
    """A batch of contexts as arrays: row weights for the theme and region tables.

    Batches repeat contexts, so every array describes the *unique* contexts; ``inverse[b]``
    is prompt ``b``'s unique row. Column ids beyond a table's rows stand for names it has not
    seen (``new_themes`` / ``new_regions``, in order), filled by the cold-start rule.
    """

    inverse: np.ndarray  # (B,) unique context of each prompt
    home_codes: np.ndarray  # (U,) prompt language codes
    home_arms: np.ndarray  # (U,) arm index of the prompt language, -1 if it is not an arm
    routed: np.ndarray  # (U,) False for prompts that keep every rollout in their language
    regional: np.ndarray  # (U,) True where region rows add to the logits
    theme_weights: RowWeights  # (U, themes known + new)
    region_weights: RowWeights  # (U, regions known + new)
    new_themes: tuple[str, ...]
    new_regions: tuple[str, ...]


class Columns:
    """Collects (row, column) pairs of weight 1, giving unseen names provisional column ids."""

    def __init__(self, index: Mapping[str, int]) -> None:
        self.index = index
        self.new: dict[str, int] = {}
        self.rows: list[int] = []
        self.cols: list[int] = []

    def add(self, row: int, names: tuple[str, ...]) -> None:
        for name in names:
            col = self.index.get(name)
            if col is None:
                col = self.new.setdefault(name, len(self.index) + len(self.new))
            self.rows.append(row)
            self.cols.append(col)

    def matrix(self, num_rows: int) -> RowWeights:
        shape = (num_rows, len(self.index) + len(self.new))
        rows = np.array(self.rows, dtype=np.int64)
        return RowWeights(rows, np.array(self.cols, dtype=np.int64), np.ones(len(rows)), shape)


def add_anchor_weights(
    weights: RowWeights,
    rows: list[int],
    embeddings: list[tuple[float, ...]],
    anchors: np.ndarray,
    temperature: float,
) -> RowWeights:
    """Soft-assign embedded contexts to the anchor rows (the first ``len(anchors)`` columns)."""
    sizes = sorted({len(vector) for vector in embeddings})
    if sizes != [anchors.shape[1]]:
        raise ValueError(
            f"theme_embedding must have {anchors.shape[1]} dimensions like the anchors, "
            f"got embeddings of {sizes} dimensions"
        )
    try:
        vectors = np.array(embeddings, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"theme_embedding must hold numbers, got {preview(embeddings)}") from None
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"theme_embedding must be finite, got NaN or infinite values in "
            f"{np.count_nonzero(~finite)} context(s), e.g. "
            f"{preview(embeddings[int(np.argmin(finite))])}"
        )
    # Scaled by the largest entry first, so that the norm of huge values does not overflow.
    vectors /= np.maximum(np.abs(vectors).max(axis=1, keepdims=True), np.finfo(float).tiny)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = (vectors / np.where(norms > 0, norms, 1.0)) @ anchors.T / temperature
    soft = np.exp(scores - scores.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    num_anchors = anchors.shape[0]
    return RowWeights.from_triples(
        np.concatenate([weights.rows, np.repeat(rows, num_anchors)]),
        np.concatenate([weights.cols, np.tile(np.arange(num_anchors), len(rows))]),
        np.concatenate([weights.weights, soft.ravel()]),
        weights.shape,
    )
