"""Settings (:class:`AlignmentConfig`) and per-pair output (:class:`AlignmentResult`) of
:class:`~lrpo.rewards.WordAligner`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .gate_config import GateConfig

__all__ = ["ALIGNMENT_REASONS", "AlignmentConfig", "AlignmentResult"]

#: Values of ``AlignmentResult.reason``; every pair gets the first that applies. Only
#: ``aligned`` pairs are encoded; the others score 0.
ALIGNMENT_REASONS = ("empty_source", "empty_hypothesis", "no_target_span", "aligned")


class AlignmentConfig(BaseModel):
    """Settings of a :class:`~lrpo.rewards.WordAligner`, checked at construction.

    The defaults are WALAR's: bge-m3's layer 24 and a 1e-3 threshold.

    Examples
    --------
    >>> AlignmentConfig(threshold=0.01).layer
    24
    >>> AlignmentConfig(gate={"candidates": ["de", "en"]}).gate.candidates
    ('de', 'en')
    """

    # allow_inf_nan=False: a NaN or infinite number is refused with the field's name.
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )

    # ---------------------------------------------------------------- encoder
    encoder: str = "BAAI/bge-m3"
    """Encoder loaded by transformers' AutoModel: a hub id or a local directory; unused when a
    model and tokenizer are passed in."""
    layer: int = Field(24, ge=0)
    """Hidden state compared: 0 the embeddings, i the output of layer i (24: bge-m3's last)."""
    device: str | None = None
    """Torch device of the encoder; None: a loaded one goes to cuda when available (else cpu),
    a passed-in one stays where it is."""
    batch_size: int = Field(16, ge=1)
    """Pairs per forward pass (twice as many texts)."""
    max_tokens: int = Field(512, ge=3)
    """Tokens per text, special tokens included; capped at the tokenizer's model_max_length.
    Longer texts are cut and counted as truncated."""
    max_chars: int = Field(4000, ge=1)
    """Characters of each cleaned text examined (for spans and tokens); the rest is cut and
    counted as truncated, so a 1 MB answer costs one cleaning pass, not a million spans."""
    # -------------------------------------------------------------- alignment
    threshold: float = Field(1e-3, gt=0.0, lt=1.0)
    """A token pair is linked when both softmaxes (source->target, target->source) exceed it."""
    # ----------------------------------------------------------- target spans
    gate: GateConfig = Field(default_factory=GateConfig)
    """The LanguageGate that judges each span of a hypothesis; spans that pass it in the target
    language are aligned, the rest is masked out."""


@dataclass(frozen=True)
class AlignmentResult:
    """Per-pair outcome of :meth:`~lrpo.rewards.WordAligner.align`; every array has shape (B,).

    ``f1``: harmonic mean of ``precision`` (aligned target words over target words) and
    ``recall`` (aligned source words over source words), 0 unless ``reason`` is ``aligned``;
    ``source_words`` and ``target_words``: words the encoder saw (after truncation);
    ``target_text``: the target-language part of the hypothesis that was aligned (``""`` when
    none); ``truncated``: either text was cut; ``reason``: one of :data:`ALIGNMENT_REASONS`.
    """

    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    source_words: np.ndarray
    target_words: np.ndarray
    target_text: np.ndarray
    truncated: np.ndarray
    reason: np.ndarray

    def counts(self) -> dict[str, int]:
        """Number of pairs per reason."""
        return {name: int(np.count_nonzero(self.reason == name)) for name in ALIGNMENT_REASONS}
