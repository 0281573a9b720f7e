"""What the model scorers (a reward model, MetricX QE, the word aligner) share: the device they
load onto, encoded pairs scored shortest first in batches (least padding), and the counts they
report."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np

__all__ = ["SUMS", "batched_scores", "default_device", "score_metrics"]

#: The counts a model scorer keeps: items, finite scores and their sum, and each fallback.
SUMS = ("items", "scored", "score", "nan", "invalid", "truncated", "repaired")

EncodedT = TypeVar("EncodedT")


def default_device() -> str:
    """Where a model loaded with ``device="auto"`` goes: the first GPU when there is one."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def batched_scores(
    encoded: list[EncodedT | None],
    forward: Callable[[list[EncodedT]], np.ndarray],
    batch_size: int,
    length: Callable[[EncodedT], int],
    counts: dict[str, float],
) -> np.ndarray:
    """One score per item, ``forward`` run on batches of the valid ones sorted by ``length``;
    NaN for an invalid item (None) and for a non-finite output, counted in ``counts``."""
    scores = np.full(len(encoded), np.nan)
    valid = [i for i, item in enumerate(encoded) if item is not None]
    order = sorted(valid, key=lambda i: length(encoded[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        scores[rows] = forward([encoded[i] for i in rows])
    finite = np.isfinite(scores)
    scores[~finite] = np.nan
    counts["items"] += len(encoded)
    counts["invalid"] += len(encoded) - len(valid)
    counts["nan"] += len(valid) - int(finite.sum())
    counts["scored"] += int(finite.sum())
    counts["score"] += float(scores[finite].sum())
    return scores


def score_metrics(prefix: str, sums: Mapping[str, float]) -> dict[str, float]:
    """``<prefix>/items``, ``<prefix>/mean_score`` (finite scores) and the rate of each fallback
    over the items (NaN before any)."""
    items = sums.get("items", 0.0)
    scored = sums.get("scored", 0.0)
    rates = {
        f"{prefix}/{name}_rate": sums.get(name, 0.0) / items if items else math.nan
        for name in ("nan", "invalid", "truncated", "repaired")
    }
    mean = sums.get("score", 0.0) / scored if scored else math.nan
    return {f"{prefix}/items": float(items), f"{prefix}/mean_score": mean, **rates}
