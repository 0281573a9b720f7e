"""Feedback between updates, kept as running sums per (theme, region, language) bucket.

Each row is updated once from the count-weighted mean of its buckets' normalised rewards, so
bucket order cannot matter (it does in the reference); an update costs O(buckets).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from .state import check_numbers, entry, refuse

__all__ = ["BucketSums", "Rows", "aggregate_window"]


class BucketSums:
    """Weight and weighted reward per (theme row, region row + 1, language) since the last
    update; region index 0 is "no region". The arrays grow with the router's tables."""

    def __init__(self, num_languages: int) -> None:
        self.weight = np.zeros((0, 1, num_languages))
        self.total = np.zeros((0, 1, num_languages))

    def add(
        self,
        shape: tuple[int, int, int],
        theme: np.ndarray,
        region: np.ndarray,
        arm: np.ndarray,
        weight: np.ndarray,
        reward: np.ndarray,
    ) -> None:
        """Add feedback entries; ``region`` is -1 for none; ``shape`` is (T, G + 1, L) now."""
        self._grow(shape)
        flat = np.ravel_multi_index((theme, region + 1, arm), shape)
        size = math.prod(shape)
        self.weight += np.bincount(flat, weight, minlength=size).reshape(shape)
        self.total += np.bincount(flat, weight * reward, minlength=size).reshape(shape)

    def clear(self) -> None:
        self.weight[:] = 0.0
        self.total[:] = 0.0

    def _grow(self, shape: tuple[int, int, int]) -> None:
        if self.weight.shape == shape:
            return
        pad = [(0, new - old) for new, old in zip(shape, self.weight.shape, strict=True)]
        self.weight = np.pad(self.weight, pad)
        self.total = np.pad(self.total, pad)

    def state_dict(self) -> dict[str, list]:
        """Only the non-empty buckets, by flat index."""
        index = np.flatnonzero(self.weight)
        return {
            "shape": list(self.weight.shape),
            "index": index.tolist(),
            "weight": self.weight.ravel()[index].tolist(),
            "total": self.total.ravel()[index].tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping, tables: tuple[int, int, int]) -> BucketSums:
        """Sums saved by :meth:`state_dict`, checked against the tables' shape (T, G + 1, L)
        (they grow when feedback arrives, so they may be smaller)."""
        saved = entry(state, "shape", "buckets")
        counts = isinstance(saved, list) and len(saved) == 3 and all(type(n) is int for n in saved)
        within = counts and all(0 <= n <= most for n, most in zip(saved, tables, strict=True))
        if not (within and saved[2] == tables[2]):
            raise refuse(
                "buckets.shape",
                f"must be [T, G + 1, {tables[2]}] within {list(tables)} (the "
                f"tables' rows), got {saved!r}",
            )
        shape = tuple(saved)
        index = entry(state, "index", "buckets")
        if not isinstance(index, list | tuple):
            raise refuse("buckets.index", f"must be a list of bucket ids, got {index!r:.80}")
        size = len(index)
        index = check_numbers(index, (size,), "buckets.index", integers=True, nonnegative=True)
        if index.size and (index.max() >= math.prod(shape) or len(np.unique(index)) < size):
            raise refuse("buckets.index", f"must hold distinct ids below {math.prod(shape)}")
        sums = cls(shape[-1])
        sums.weight, sums.total = np.zeros(shape), np.zeros(shape)
        sums.weight.ravel()[index] = check_numbers(
            entry(state, "weight", "buckets"), (size,), "buckets.weight", nonnegative=True
        )
        sums.total.ravel()[index] = check_numbers(
            entry(state, "total", "buckets"), (size,), "buckets.total", limit=np.inf
        )
        return sums


Rows = tuple[np.ndarray, np.ndarray]


def aggregate_window(
    sums: BucketSums,
    *,
    region_themes: np.ndarray,
    group_norm: Literal["zscore", "center", "none"],
) -> tuple[Rows, Rows]:
    """Bucket means, normalised across languages within (theme, region), then per row.

    ``region_themes`` masks the theme rows whose buckets update region rows. Returns the
    theme rows' and the region rows' ``(reward, weight)``, each ``(rows, L)``: reward the
    weighted mean of normalised bucket means, weight the total behind it (0: no feedback).
    """
    weight = sums.weight
    seen = weight > 0
    normalised = _normalise_across_languages(_ratio(sums.total, weight), seen, group_norm)
    themes = _weighted_mean(normalised, weight, axis=1)
    if weight.shape[1] == 1:  # no region rows: their statistics are empty, skip the steps
        return themes, (np.zeros((0, weight.shape[2])), np.zeros((0, weight.shape[2])))
    regions = _weighted_mean(normalised[region_themes, 1:, :], weight[region_themes, 1:, :], 0)
    return themes, regions


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


def _normalise_across_languages(mean: np.ndarray, seen: np.ndarray, group_norm: str) -> np.ndarray:
    """Standardise (zscore) or centre bucket means over the languages seen in their group."""
    if group_norm == "none":
        return mean
    count = seen.sum(axis=-1, keepdims=True)
    centred = np.where(seen, mean - _ratio(mean.sum(axis=-1, keepdims=True), count), 0.0)
    if group_norm == "center":
        return centred
    variance = _ratio((centred**2).sum(axis=-1, keepdims=True), count)
    return centred / (np.sqrt(variance) + 1e-6)


def _weighted_mean(values: np.ndarray, weights: np.ndarray, axis: int) -> Rows:
    """Mean of ``values`` weighted by ``weights`` along ``axis``, and the total weight."""
    mass = weights.sum(axis=axis)
    return _ratio((values * weights).sum(axis=axis), mass), mass
