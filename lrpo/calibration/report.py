"""`lrpo calibrate report`: how comparable each calibrator makes scores, on unseen data.

Unseen data are the items the table held out of its own data (in-domain) and optionally other
data as a whole (out-of-domain, e.g. catalogue domains the table never saw). Two figures, for
raw scores and each calibrator:

* spread: max - min over language pairs of the mean score of equivalent pairs. A correct answer
  should score the same whatever the pair; raw similarity does not.
* pooled AUC against mean per-pair AUC: how well scores separate equivalents from hard negatives
  when every pair is pooled together (as in a multilingual GRPO group) versus within one pair.
  Calibration should bring the pooled AUC up to the per-pair one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import mannwhitneyu

from .calibrators import MeanCalibrator, ProbabilityCalibrator, QuantileCalibrator
from .data import ParallelCorpus
from .pairs import PairSettings, embed_corpus, pair_scores
from .table import CalibrationTable

if TYPE_CHECKING:
    from lrpo.embedders import Embedder

__all__ = [
    "TARGETS",
    "PairScores",
    "calibrate_held_out",
    "calibrate_pairs",
    "comparability",
    "evaluate",
    "format_report",
    "held_out_scores",
    "plot_pair_distributions",
    "unseen_scores",
]

PairScores = Mapping[tuple[str, str], Mapping[str, np.ndarray]]
Calibrate = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

#: Targets on held-out items: spread of equivalent means, and pooled AUC below per-pair AUC.
TARGETS = {"spread": 0.05, "auc_gap": 0.03}
_COLOURS = {"equivalent": "tab:green", "hard_negative": "tab:red", "mismatch": "tab:grey"}


def held_out_scores(
    table: CalibrationTable, corpus: ParallelCorpus, embedder: Embedder, **options: Any
) -> PairScores:
    """Pair scores of the items the table was not fitted on (the split recorded in it).

    ``options`` (``min_items``, ``progress``) are those of :func:`unseen_scores`.
    """
    holdout = table.provenance.sizes.get("holdout_percent", 0) / 100
    if not holdout:
        raise ValueError("the table was fitted on all items (holdout 0): nothing is held out")
    _, held = corpus.split(holdout, table.provenance.seed or 0)
    return unseen_scores(table, held, embedder, **options)


def unseen_scores(
    table: CalibrationTable,
    corpus: ParallelCorpus,
    embedder: Embedder,
    *,
    min_items: int = 2,
    progress: bool = True,
) -> PairScores:
    """Pair scores of every item of ``corpus``, drawn as the table's own were."""
    sizes, seed = table.provenance.sizes, table.provenance.seed or 0
    settings = PairSettings(
        mismatches_per_reference=sizes["mismatches_per_reference"],
        hard_negatives_per_reference=max(1, sizes["hard_negatives_per_reference"]),
        min_items=min_items,
        ordered=table.ordered,
        seed=seed,
    )
    embeddings = embed_corpus(corpus, embedder, progress=progress)
    languages = tuple(code for code in table.languages if code in corpus.languages)
    scores = pair_scores(corpus, embeddings, settings, languages)
    if not any(len(kinds.get("equivalent", ())) for kinds in scores.values()):
        raise ValueError(
            f"no language pair of {corpus.source} has {min_items} or more items with "
            "equivalents; lower --min-items, or build the table with a larger --holdout"
        )
    return scores


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


def calibrate_held_out(table: CalibrationTable, scores: PairScores) -> dict[str, PairScores]:
    """Held-out pair scores raw and through each calibrator fitted on ``table``."""
    return {
        "raw": scores,
        "mean": calibrate_pairs(scores, MeanCalibrator().fit(table)),
        "quantile": calibrate_pairs(scores, QuantileCalibrator().fit(table)),
        "probability": calibrate_pairs(scores, ProbabilityCalibrator().fit(table)),
    }


def comparability(scores: PairScores) -> dict[str, float]:
    """Spread of equivalent means, pooled and per-pair AUC (equivalents vs hard negatives).

    Pooled, the hard negatives of same-language pairs compete with cross-lingual equivalents,
    as in a multilingual GRPO group. Pairs without equivalents (same language, no
    paraphrases) count for neither the spread nor the per-pair AUC.
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


def evaluate(calibrated: dict[str, PairScores]) -> dict[str, dict[str, float]]:
    """Spread and AUCs of each version of the scores."""
    return {name: comparability(scores) for name, scores in calibrated.items()}


def format_report(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table, one block per data (held-out, out-of-domain), with the targets."""
    width = max(10, *(len(name) for by_scores in results.values() for name in by_scores))
    header = f"{'data':<14} {'scores':<{width}} {'pairs':>6} {'spread':>8} {'pooled AUC':>11} "
    header += f"{'per-pair AUC':>13}"
    lines = [header, "-" * len(header)]
    for data, by_scores in results.items():
        for name, figures in by_scores.items():
            lines.append(
                f"{data:<14} {name:<{width}} {figures['pairs']:>6.0f} {figures['spread']:>8.4f} "
                f"{figures['pooled_auc']:>11.4f} {figures['per_pair_auc']:>13.4f}"
            )
    lines.append(
        f"targets: spread < {TARGETS['spread']}, pooled AUC within {TARGETS['auc_gap']} "
        "of the per-pair AUC"
    )
    return "\n".join(lines)


def plot_pair_distributions(panels: Mapping[str, PairScores], path: str | Path) -> Path:
    """A PNG, one panel per entry of ``panels`` (e.g. raw, mean): mean +- std per kind.

    Pairs are ordered by their raw equivalent mean (pairs without equivalents last), so a
    rising green line is the cross-pair bias that calibration should flatten. Needs
    matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(panels.values()))
    order = sorted(first, key=lambda pair: _sort_key(first[pair]))
    labels = [f"{a}-{b}" for a, b in order]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(max(10, 0.12 * len(order)), 3.2 * len(panels)), squeeze=False
    )
    positions = np.arange(len(order))
    for axis, (title, scores) in zip(axes[:, 0], panels.items(), strict=True):
        for kind, colour in _COLOURS.items():
            stats = np.array([_mean_std(scores[pair].get(kind)) for pair in order]).reshape(-1, 2)
            label = kind.replace("_", " ")
            style = {"fmt": "o", "ms": 2.5, "lw": 0.6, "color": colour, "label": label}
            axis.errorbar(positions, stats[:, 0], yerr=stats[:, 1], **style)
        axis.set_title(title)
        axis.set_xlim(-1, len(order))
        axis.grid(alpha=0.3)
        axis.set_ylabel("score")
    axes[0, 0].legend(loc="lower right", fontsize="small")
    axes[-1, 0].set_xticks(positions, labels, rotation=90, fontsize=5)
    for axis in axes[:-1, 0]:
        axis.set_xticks(positions, [""] * len(order))
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _sort_key(kinds: Mapping[str, np.ndarray]) -> float:
    equivalents = kinds.get("equivalent")
    return float(np.mean(equivalents)) if equivalents is not None and len(equivalents) else 9.0


def _mean_std(values: np.ndarray | None) -> tuple[float, float]:
    if values is None or not len(values):
        return np.nan, np.nan
    return float(np.mean(values)), float(np.std(values))
