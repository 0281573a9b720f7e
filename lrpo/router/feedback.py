"""Feedback between updates: one flat record per (rollout, theme row, region row), aggregated once.

The reference EMA-updates a theme row once per region bucket, so its result depends on the order
in which buckets are visited. Here every bucket is aggregated first and each row is updated once
from the count-weighted mean of its buckets' normalised rewards: order cannot matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["FeedbackBuffer", "WindowStats", "aggregate_window"]

_FIELDS = ("theme", "region", "arm", "weight", "reward")


class FeedbackBuffer:
    """Flat arrays of feedback recorded since the last update."""

    def __init__(self) -> None:
        self._chunks: dict[str, list[np.ndarray]] = {field: [] for field in _FIELDS}

    def append(self, **columns: np.ndarray) -> None:
        """Add equally long columns ``theme, region, arm, weight, reward``."""
        for field in _FIELDS:
            self._chunks[field].append(np.asarray(columns[field]))

    def arrays(self) -> dict[str, np.ndarray]:
        """All recorded feedback, concatenated."""
        return {
            field: np.concatenate(chunks) if chunks else np.zeros(0)
            for field, chunks in self._chunks.items()
        }

    def clear(self) -> None:
        for chunks in self._chunks.values():
            chunks.clear()

    def state_dict(self) -> dict[str, list]:
        return {field: values.tolist() for field, values in self.arrays().items()}

    def load_state_dict(self, state: dict[str, list]) -> None:
        self.clear()
        if state and len(state["reward"]):
            self.append(**{field: np.asarray(state[field]) for field in _FIELDS})


@dataclass(frozen=True)
class WindowStats:
    """Per-row results of one window: normalised reward and weight, per language."""

    theme_reward: np.ndarray  # (T, L) count-weighted mean of normalised bucket rewards
    theme_weight: np.ndarray  # (T, L) total weight behind it; 0 = no feedback
    region_reward: np.ndarray  # (G, L)
    region_weight: np.ndarray  # (G, L)


def aggregate_window(
    feedback: dict[str, np.ndarray],
    *,
    num_themes: int,
    num_regions: int,
    num_languages: int,
    region_themes: np.ndarray,
    group_norm: Literal["zscore", "center", "none"],
) -> WindowStats:
    """Bucket means per (theme, region, language), normalised across languages, then per row.

    ``feedback["region"]`` is -1 for prompts without a region. ``region_themes`` is a boolean mask
    over theme rows whose buckets update region rows.
    """
    shape = (num_themes, num_regions + 1, num_languages)
    flat = np.ravel_multi_index(
        (
            feedback["theme"].astype(np.int64),
            feedback["region"].astype(np.int64) + 1,
            feedback["arm"].astype(np.int64),
        ),
        shape,
    )
    size = int(np.prod(shape))
    weight = np.bincount(flat, feedback["weight"], minlength=size).reshape(shape)
    total = np.bincount(flat, feedback["weight"] * feedback["reward"], minlength=size)
    seen = weight > 0
    mean = np.divide(total.reshape(shape), weight, out=np.zeros(shape), where=seen)
    normalised = _normalise_across_languages(mean, seen, group_norm)

    theme_weight = weight.sum(axis=1)
    theme_reward = _weighted_mean(normalised, weight, axis=1)
    region_mass = weight[region_themes, 1:, :]
    region_weight = region_mass.sum(axis=0)
    region_reward = _weighted_mean(normalised[region_themes, 1:, :], region_mass, axis=0)
    return WindowStats(theme_reward, theme_weight, region_reward, region_weight)


def _normalise_across_languages(mean: np.ndarray, seen: np.ndarray, group_norm: str) -> np.ndarray:
    """Standardise (zscore) or centre bucket means over the languages seen in their group."""
    if group_norm == "none":
        return mean
    count = seen.sum(axis=-1, keepdims=True)
    group_mean = np.divide(
        np.where(seen, mean, 0.0).sum(axis=-1, keepdims=True),
        count,
        out=np.zeros_like(count, dtype=np.float64),
        where=count > 0,
    )
    centred = np.where(seen, mean - group_mean, 0.0)
    if group_norm == "center":
        return centred
    variance = np.divide(
        (centred**2).sum(axis=-1, keepdims=True),
        count,
        out=np.zeros_like(count, dtype=np.float64),
        where=count > 0,
    )
    return centred / (np.sqrt(variance) + 1e-6)


def _weighted_mean(values: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    mass = weights.sum(axis=axis)
    return np.divide(
        (values * weights).sum(axis=axis), mass, out=np.zeros_like(mass), where=mass > 0
    )
