"""The raw quality score of the live items: given, from a scorer, or a cosine similarity.

The cosine is that of each completion to its reference, and optionally to another prompt's
reference. References go through the reward's :class:`~lrpo.embedders.CachedEmbedder`, so a
reference shared by the K rollouts of a group is embedded once; completions are embedded once
each. The mismatches (each completion against the reference of another prompt of the batch, a surely
wrong answer) feed online calibration, see :class:`~lrpo.calibration.MeanCalibrator`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrpo.embedders import CachedEmbedder, Embedder

from .inputs import message_text

__all__ = ["Scorer", "Similarity", "embedders", "other_prompt", "raw_scores", "similarity"]

#: ``scorer(prompts, completions, references) -> scores`` over the scored items.
Scorer = Callable[[list[str | None], list[str], list[str | None]], Sequence[float]]


@dataclass(frozen=True)
class Similarity:
    """Cosines of m completions, their embeddings and, optionally, their mismatches.

    Attributes
    ----------
    raw : numpy.ndarray of float64, shape (m,)
        Cosine of each completion to its reference.
    vectors : numpy.ndarray, shape (m, d)
        The completions' embeddings (the echo guard compares them with the questions).
    mismatch : numpy.ndarray of float64, shape (m,), or None
        Cosine of each completion to the reference of item ``partner``.
    partner : numpy.ndarray of int, shape (m,), or None
        An item of another prompt, for each completion.
    """

    raw: np.ndarray
    vectors: np.ndarray
    mismatch: np.ndarray | None = None
    partner: np.ndarray | None = None


def embedders(
    embedder: Embedder | None, cache_size: int
) -> tuple[CachedEmbedder | None, Embedder | None]:
    """The reference cache and the completion embedder of ``embedder`` (None: none).

    A :class:`~lrpo.embedders.CachedEmbedder` is used as the reference cache, its wrapped
    embedder for the completions (each embedded once: caching them would only cost memory).
    """
    if embedder is None:
        return None, None
    if isinstance(embedder, CachedEmbedder):
        return embedder, embedder.embedder
    if isinstance(embedder, Embedder):
        return CachedEmbedder(embedder, max_entries=cache_size), embedder
    raise TypeError(f"embedder must be an Embedder, got {type(embedder).__name__}")


def other_prompt(references: list[str]) -> np.ndarray | None:
    """For each item, the first item whose reference is the next distinct one (cyclically).

    None when the batch has a single distinct reference.

    Examples
    --------
    >>> other_prompt(["a", "a", "b", "c"]).tolist()
    [2, 2, 3, 0]
    """
    groups: dict[str, int] = {}
    group = np.array([groups.setdefault(text, len(groups)) for text in references])
    if len(groups) < 2:
        return None
    first = np.empty(len(groups), dtype=np.intp)
    first[group[::-1]] = np.arange(len(group))[::-1]
    return first[(group + 1) % len(groups)]


def similarity(
    completion_embedder: Embedder,
    reference_embedder: Embedder,
    texts: list[str],
    references: list[str],
    *,
    mismatches: bool = False,
) -> Similarity:
    """Embed the completions and references and compare them pair by pair.

    Parameters
    ----------
    completion_embedder, reference_embedder : Embedder
        The embedder of the completions, and that of the references (its cache).
    texts, references : list of str, length m
        Completions and their references.
    mismatches : bool, default False
        Also score each completion against another prompt's reference (online calibration).

    Returns
    -------
    Similarity
        Mismatches are None unless asked for and the batch has two distinct references.
    """
    vectors = completion_embedder.embed(texts)
    reference_vectors = reference_embedder.embed(references)
    raw = np.einsum("ij,ij->i", vectors, reference_vectors, dtype=np.float64)
    partner = other_prompt(references) if mismatches else None
    if partner is None:
        return Similarity(raw, vectors)
    mismatch = np.einsum("ij,ij->i", vectors, reference_vectors[partner], dtype=np.float64)
    return Similarity(raw, vectors, mismatch, partner)


def raw_scores(
    alive: np.ndarray,
    texts: list[Any],
    refs: list[Any],
    prompts: list[Any] | None,
    *,
    scores: np.ndarray | None = None,
    scorer: Scorer | None = None,
    embedders: tuple[Embedder, Embedder] | None = None,
    mismatches: bool = False,
) -> tuple[np.ndarray, Similarity | None]:
    """The raw score of each ``alive`` item: from ``scores``, else ``scorer``, else cosines.

    Parameters
    ----------
    alive : numpy.ndarray of int, shape (m,)
        The items to score.
    texts, refs, prompts : lists, shape (n,)
        Completion texts, references and prompts (None: none) of the whole batch.
    scores : numpy.ndarray, shape (n,), optional
        Given scalar scores.
    scorer : callable, optional
        ``scorer(prompts, completions, references)`` over the ``alive`` items.
    embedders : (Embedder, Embedder), optional
        Completion and reference embedders, for the cosine.
    mismatches : bool, default False
        See :func:`similarity`.

    Returns
    -------
    tuple of (numpy.ndarray, Similarity or None)
        The m scores, and the cosines' :class:`Similarity` (None for a scalar score).
    """
    if scores is not None:
        return scores[alive], None
    live_texts, live_refs = [texts[i] for i in alive], [refs[i] for i in alive]
    if scorer is not None:
        live_prompts = [message_text(prompts[i], ("user",)) if prompts else None for i in alive]
        values = np.asarray(scorer(live_prompts, live_texts, live_refs), dtype=np.float64)
        if values.shape != (alive.size,):
            raise ValueError(f"scorer returned shape {values.shape} for {alive.size} items")
        return values, None
    found = similarity(*embedders, live_texts, live_refs, mismatches=mismatches)
    return found.raw, found
