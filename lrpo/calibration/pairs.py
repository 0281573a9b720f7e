"""Build a calibration table: embed parallel data, score pairs of three kinds, summarise.

For a pair (reference language a, output language b), with one embedding per item and language:

* equivalent: the same item in a and b (a correct answer in another language). For a == b
  the data must hold paraphrases (several texts with one (id, lang)); without them the pair
  has no equivalents, and calibrators back off for it (the table records the count 0);
* mismatch: ``mismatches_per_reference`` random other items of b per reference item of a;
* hard negative: the ``hard_negatives_per_reference`` most similar other items of b.

Each language pair is one matrix product; the draws are seeded per pair, so a subset of
languages gives the same scores for its pairs as the full set.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from itertools import product
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from .data import ParallelCorpus
from .entries import KINDS, Provenance
from .table import CalibrationTable

if TYPE_CHECKING:
    from lrpo.embedders import Embedder

__all__ = ["PairSettings", "build_table", "embed_corpus", "pair_scores"]

_NAMED = 10  # left-out pairs named in the warning (a table of 17 languages can leave out 60)


class PairSettings(BaseModel):
    """How many pairs of each kind to draw per reference item, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    mismatches_per_reference: int = Field(10, ge=1)
    """Random other items per item."""
    hard_negatives_per_reference: int = Field(2, ge=0)
    """Most similar other items."""
    min_items: int = Field(10, ge=2)
    """Items a language pair needs; below it the pair is left out."""
    ordered: bool = False
    """Keep (a, b) and (b, a) apart, else pool them."""
    seed: int = 0
    """Seed of the mismatch draws."""


def pair_scores(
    corpus: ParallelCorpus,
    embeddings: np.ndarray,
    settings: PairSettings,
    languages: tuple[str, ...] | None = None,
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Scores per kind for every language pair; ``embeddings`` has one unit row per corpus row.

    Unordered entries are keyed ``(a, b)`` with ``a <= b`` and pool both directions.
    A pair with fewer than ``min_items`` shared items is left out; one warning names them all.
    """
    if embeddings.shape[0] != len(corpus):
        raise ValueError(f"{embeddings.shape[0]} embeddings for {len(corpus)} corpus rows")
    languages = languages or corpus.languages
    # Integer ids: comparing long string ids (a UI message is its own id) item by item costs
    # minutes over all language pairs.
    _, item_ids = np.unique(corpus.ids, return_inverse=True)
    items = {lang: _items(corpus.langs, item_ids, embeddings, lang) for lang in languages}
    scores: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    left_out: list[str] = []
    for a, b in product(languages, repeat=2):
        key = (a, b) if settings.ordered or a <= b else (b, a)
        found = _direction(items[a], items[b], a == b, settings, _pair_seed(settings.seed, a, b))
        if found is None:
            if key == (a, b):  # an unordered pair is named once
                left_out.append(f"({a}, {b})")
            continue
        merged = scores.setdefault(key, {})
        for kind, values in found.items():
            if a != b and not settings.ordered and kind == "equivalent" and a > b:
                continue  # cosine is symmetric: the equivalents of (b, a) are already in
            merged[kind] = np.concatenate([merged.get(kind, np.zeros(0)), values])
    if left_out:
        more = len(left_out) - _NAMED
        named = ", ".join(left_out[:_NAMED]) + (f" and {more} more" if more > 0 else "")
        warnings.warn(
            f"{len(left_out)} language pairs have fewer than {settings.min_items} shared items "
            f"and are left out (calibrators back off for them): {named}",
            stacklevel=2,
        )
    return scores


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
) -> CalibrationTable:
    """Fit a table on ``corpus`` (the fit side, if it was split with ``holdout``)."""
    languages = tuple(languages or corpus.languages)
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


class _Items:
    """One language's items: ids, the first text's embedding per id, and paraphrase rows."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, paraphrases: np.ndarray) -> None:
        self.ids, self.vectors, self.paraphrases = ids, vectors, paraphrases


def _items(langs: np.ndarray, item_ids: np.ndarray, embeddings: np.ndarray, lang: str) -> _Items:
    rows = np.flatnonzero(langs == lang)
    ids, first = np.unique(item_ids[rows], return_index=True)
    vectors = embeddings[rows[first]]
    others = np.setdiff1d(np.arange(len(rows)), first)
    # (similarity of each extra text of an id to that id's first text)
    owner = np.searchsorted(ids, item_ids[rows[others]])
    paraphrases = np.einsum("ij,ij->i", embeddings[rows[others]], vectors[owner])
    return _Items(ids, vectors, paraphrases)


def _direction(
    ref: _Items, out: _Items, same_language: bool, settings: PairSettings, seed: int
) -> dict[str, np.ndarray] | None:
    shared = np.intersect1d(ref.ids, out.ids)
    if len(shared) < settings.min_items:
        return None
    similarity = ref.vectors @ out.vectors.T
    same_item = ref.ids[:, None] == out.ids[None, :]
    found = {"equivalent": ref.paraphrases if same_language else similarity[same_item]}
    rng = np.random.default_rng(seed)
    keys = np.where(same_item, np.inf, rng.random(similarity.shape))
    take = min(settings.mismatches_per_reference, similarity.shape[1] - 1)
    drawn = np.argpartition(keys, take - 1, axis=1)[:, :take]
    found["mismatch"] = np.take_along_axis(similarity, drawn, axis=1).ravel()
    hard = min(settings.hard_negatives_per_reference, similarity.shape[1] - 1)
    if hard:
        masked = np.where(same_item, -np.inf, similarity)
        top = np.argpartition(-masked, hard - 1, axis=1)[:, :hard]
        found["hard_negative"] = np.take_along_axis(similarity, top, axis=1).ravel()
    return {kind: values for kind, values in found.items() if len(values)}


def _pair_seed(seed: int, a: str, b: str) -> int:
    """A seed per ordered pair that does not depend on which other languages are present."""
    return int.from_bytes(hashlib.blake2b(f"{seed}|{a}|{b}".encode(), digest_size=4).digest())
