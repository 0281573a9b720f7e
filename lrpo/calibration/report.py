"""`lrpo calibrate report`: how comparable each calibrator makes scores, on unseen data.

Two kinds of unseen data, side by side: the items of the table's own data that it held out
(in-domain), and optionally other data as a whole (out-of-domain: e.g. catalogue domains the
table never saw, or the user's own domain).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .build import embed_corpus
from .calibrators import MeanCalibrator, QuantileCalibrator
from .data import ParallelCorpus
from .evaluation import PairScores, calibrate_pairs, comparability
from .pairs import PairSettings, pair_scores
from .table import CalibrationTable

if TYPE_CHECKING:
    from lrpo.embedders import Embedder

__all__ = [
    "TARGETS",
    "calibrate_held_out",
    "evaluate",
    "format_report",
    "held_out_scores",
    "unseen_scores",
]

#: Targets on held-out items: spread of equivalent means, and pooled AUC below per-pair AUC.
TARGETS = {"spread": 0.05, "auc_gap": 0.03}


def held_out_scores(
    table: CalibrationTable,
    corpus: ParallelCorpus,
    embedder: Embedder,
    *,
    min_items: int = 2,
    progress: bool = True,
) -> PairScores:
    """Pair scores of the items the table was not fitted on (the split recorded in it)."""
    sizes, seed = table.provenance.sizes, table.provenance.seed or 0
    holdout = sizes.get("holdout_percent", 0) / 100
    if not holdout:
        raise ValueError("the table was fitted on all items (holdout 0): nothing is held out")
    _, held = corpus.split(holdout, seed)
    return unseen_scores(table, held, embedder, min_items=min_items, progress=progress)


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


def calibrate_held_out(table: CalibrationTable, scores: PairScores) -> dict[str, PairScores]:
    """Held-out pair scores raw and through each calibrator fitted on ``table``."""
    return {
        "raw": scores,
        "mean": calibrate_pairs(scores, MeanCalibrator().fit(table)),
        "quantile": calibrate_pairs(scores, QuantileCalibrator().fit(table)),
    }


def evaluate(calibrated: dict[str, PairScores]) -> dict[str, dict[str, float]]:
    """Spread and AUCs of each version of the scores."""
    return {name: comparability(scores) for name, scores in calibrated.items()}


def format_report(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table, one block per data (held-out, out-of-domain), with the targets."""
    header = f"{'data':<14} {'scores':<10} {'pairs':>6} {'spread':>8} {'pooled AUC':>11} "
    header += f"{'per-pair AUC':>13}"
    lines = [header, "-" * len(header)]
    for data, by_scores in results.items():
        for name, figures in by_scores.items():
            lines.append(
                f"{data:<14} {name:<10} {figures['pairs']:>6.0f} {figures['spread']:>8.4f} "
                f"{figures['pooled_auc']:>11.4f} {figures['per_pair_auc']:>13.4f}"
            )
    lines.append(
        f"targets: spread < {TARGETS['spread']}, pooled AUC within {TARGETS['auc_gap']} "
        "of the per-pair AUC"
    )
    return "\n".join(lines)
