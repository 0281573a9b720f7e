"""How comparable calibrated scores are across language pairs, on held-out items.

Two figures, for raw scores and for each calibrator:

* spread: max - min over language pairs of the mean score of equivalent pairs. A correct answer
  should score the same whatever the pair; raw similarity does not.
* pooled AUC against mean per-pair AUC: how well scores separate equivalents from hard negatives
  when every pair is pooled together (as GRPO does within a multilingual group) versus within
  one pair. Calibration should bring the pooled AUC up to the per-pair one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.stats import mannwhitneyu

__all__ = ["PairScores", "calibrate_pairs", "comparability"]

PairScores = Mapping[tuple[str, str], Mapping[str, np.ndarray]]
Calibrate = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def calibrate_pairs(scores: PairScores, calibrate: Calibrate) -> dict[tuple[str, str], dict]:
    """Apply ``calibrate`` to every kind of every pair, in one batch of mixed pairs."""
    keys = [(pair, kind) for pair, kinds in scores.items() for kind in kinds]
    sizes = [len(scores[pair][kind]) for pair, kind in keys]
    values = np.concatenate([scores[pair][kind] for pair, kind in keys])
    refs = np.repeat([pair[0] for pair, _ in keys], sizes)
    outs = np.repeat([pair[1] for pair, _ in keys], sizes)
    calibrated = np.split(calibrate(values, refs, outs), np.cumsum(sizes)[:-1])
    result: dict[tuple[str, str], dict] = {}
    for (pair, kind), part in zip(keys, calibrated, strict=True):
        result.setdefault(pair, {})[kind] = part
    return result


def comparability(scores: PairScores) -> dict[str, float]:
    """Spread of equivalent means, pooled and per-pair AUC (equivalents vs hard negatives).

    The pooled AUC pools the equivalents and the hard negatives of every pair, so the hard
    negatives of same-language pairs (a wrong answer in the reference's own language) compete
    with cross-lingual equivalents, as they do in a multilingual GRPO group. Pairs without
    equivalents (same language, no paraphrases) count for neither the spread nor the per-pair
    AUC.
    """
    with_equivalents = {p: k for p, k in scores.items() if len(k.get("equivalent", ()))}
    means = [float(np.mean(k["equivalent"])) for k in with_equivalents.values()]
    both = {p: k for p, k in with_equivalents.items() if len(k.get("hard_negative", ()))}
    per_pair = [_auc(k["equivalent"], k["hard_negative"]) for k in both.values()]
    pooled = _auc(
        np.concatenate([k["equivalent"] for k in with_equivalents.values()]),
        np.concatenate([k["hard_negative"] for k in scores.values() if "hard_negative" in k]),
    )
    return {
        "pairs": float(len(with_equivalents)),
        "spread": float(np.max(means) - np.min(means)),
        "equivalent_mean": float(np.mean(means)),
        "pooled_auc": pooled,
        "per_pair_auc": float(np.mean(per_pair)),
        "auc_gap": float(np.mean(per_pair)) - pooled,
    }


def _auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(a positive outscores a negative), ties counting half (Mann-Whitney U / n1 n2)."""
    statistic = mannwhitneyu(positives, negatives, alternative="two-sided").statistic
    return float(statistic) / (len(positives) * len(negatives))
