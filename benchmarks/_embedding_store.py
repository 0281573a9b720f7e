"""Embed each distinct text once per machine: an on-disk store and an embedder serving from it.

The store is one ``.npz`` per embedder fingerprint (``texts`` and float32 ``vectors``) in a
cache folder; texts it lacks are embedded by the real embedder in one call and written back.
:class:`StoreEmbedder` is an :class:`lrpo.embedders.Embedder` with the real embedder's
fingerprint (so that calibration tables load for it) that returns the stored vectors: a
closed-loop benchmark then spends its time on the reward stack, not on the model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lrpo.embedders import Embedder

__all__ = ["EmbeddingStore", "StoreEmbedder"]


class EmbeddingStore:
    """Vectors of ``embedder`` by text, kept in ``<folder>/<fingerprint hash>.npz``."""

    def __init__(self, embedder: Embedder, folder: Path | str) -> None:
        self._embedder: Embedder | None = embedder
        self._factory = type(embedder)  # rebuilds it where the store was sent without it
        self.fingerprint = embedder.fingerprint
        self.dimension = embedder.dimension
        digest = hashlib.sha256(embedder.fingerprint.encode()).hexdigest()[:16]
        self.path = Path(folder) / f"embeddings-{digest}.npz"
        self.index: dict[str, int] = {}
        self.matrix = np.zeros((0, self.dimension), dtype=np.float32)
        self.embedded = 0  # texts this process had to embed
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as saved:
                if str(saved["fingerprint"]) == self.fingerprint:
                    self.matrix = saved["vectors"].astype(np.float32)
                    self.index = {text: i for i, text in enumerate(saved["texts"].tolist())}

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_embedder": None}  # a model is not sent to another process

    @property
    def embedder(self) -> Embedder:
        """The real embedder, built again (default settings) when the store was sent."""
        if self._embedder is None:
            embedder = self._factory()
            if embedder.fingerprint != self.fingerprint:
                raise RuntimeError(f"rebuilt {embedder.fingerprint!r}, not {self.fingerprint!r}")
            self._embedder = embedder
        return self._embedder

    def add(self, texts: Sequence[str], *, batch: int = 512, progress: bool = True) -> int:
        """Embed the texts the store lacks, save, and return how many there were."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.index]
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            if progress:
                print(f"embedding {start + len(chunk)}/{len(missing)} texts", flush=True)
            vectors = np.asarray(self.embedder.embed(chunk), dtype=np.float32)
            base = len(self.index)
            self.index.update((text, base + i) for i, text in enumerate(chunk))
            self.matrix = np.concatenate([self.matrix, vectors])
            self._save()
        self.embedded += len(missing)
        return len(missing)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, d)`` stored vectors, embedding (and storing) any text not there yet."""
        if any(text not in self.index for text in texts):
            self.add(texts, progress=False)
        return self.matrix[[self.index[text] for text in texts]]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = np.array(list(self.index), dtype=str)
        temporary = self.path.with_name(self.path.stem + f".{os.getpid()}.tmp.npz")
        np.savez(
            temporary,
            texts=texts,
            vectors=self.matrix,
            fingerprint=np.array(self.fingerprint),
        )
        os.replace(temporary, self.path)


class StoreEmbedder(Embedder):
    """The store's embedder, serving vectors from the store (same fingerprint, same vectors)."""

    def __init__(self, store: EmbeddingStore) -> None:
        self.store = store
        self.fingerprint = store.fingerprint
        self.dimension = store.dimension

    def __repr__(self) -> str:
        return f"StoreEmbedder({self.store.path}, entries={len(self.store)})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.store.vectors(list(texts))
