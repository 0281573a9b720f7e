"""Build a calibration table: embed parallel data, score pairs per language pair, summarise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from .data import ParallelCorpus
from .entries import KINDS
from .pairs import PairSettings, pair_scores
from .table import CalibrationTable, Provenance

if TYPE_CHECKING:
    from lrpo.embedders import Embedder

__all__ = ["build_table", "embed_corpus"]


def embed_corpus(
    corpus: ParallelCorpus, embedder: Embedder, *, batch_size: int = 64, progress: bool = True
) -> np.ndarray:
    """One unit embedding per corpus row, in batches, with a progress bar."""
    batches = range(0, len(corpus), batch_size)
    parts = [
        embedder.embed(corpus.texts[start : start + batch_size])
        for start in tqdm(batches, desc="embedding", unit="batch", disable=not progress)
    ]
    return np.concatenate(parts)


def build_table(
    corpus: ParallelCorpus,
    embedder: Embedder,
    settings: PairSettings,
    *,
    languages: Sequence[str] | None = None,
    command: str = "",
    progress: bool = True,
    holdout: float = 0.0,
    embeddings: np.ndarray | None = None,
) -> CalibrationTable:
    """Fit a table on ``corpus`` (the fit side, if it was split with ``holdout``).

    ``embeddings`` may be passed when the rows were embedded already (one per corpus row).
    """
    languages = tuple(languages or corpus.languages)
    if embeddings is None:
        embeddings = embed_corpus(corpus, embedder, progress=progress)
    scores = pair_scores(corpus, embeddings, settings, languages)
    sizes = {f"pairs_{kind}": sum(len(k.get(kind, ())) for k in scores.values()) for kind in KINDS}
    ids = {lang: corpus.ids[corpus.langs == lang] for lang in languages}
    items = {f"items_{lang}": int(np.unique(ids[lang]).size) for lang in languages}
    provenance = Provenance(
        source=corpus.source,
        sizes={
            **items,
            **sizes,
            "mismatches_per_reference": settings.mismatches_per_reference,
            "hard_negatives_per_reference": settings.hard_negatives_per_reference,
            "min_items": settings.min_items,
            "holdout_percent": round(100 * holdout),
        },
        seed=settings.seed,
        command=command,
    )
    return CalibrationTable.from_scores(
        scores,
        embedder=embedder.fingerprint,
        languages=languages,
        ordered=settings.ordered,
        provenance=provenance,
    )
