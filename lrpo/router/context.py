"""What the router knows about a prompt, and its encoding as sparse row weights for a batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["ContextLike", "RoutingContext", "check_context", "preview"]


class RoutingContext(NamedTuple):
    """A prompt as the router sees it: its language, theme(s) and region(s), whose rows sum
    (``theme_embedding`` replaces the labels when ``theme_input="embeddings"``).

    Examples
    --------
    >>> context = RoutingContext.coerce({"language": "ja", "theme": "Regional Knowledge",
    ...                                  "region": "Japan"})
    >>> context.themes, context.regions
    (('Regional Knowledge',), ('Japan',))
    """

    language: str
    themes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    theme_embedding: tuple[float, ...] | None = None

    @classmethod
    def coerce(cls, value: ContextLike) -> RoutingContext:
        """Accept a context or a mapping with ``language`` and ``theme(s)`` / ``region(s)``."""
        if isinstance(value, RoutingContext):
            return value
        if not isinstance(value, dict | Mapping):  # dict first: the ABC check is slow
            raise TypeError(
                f"a routing context is a RoutingContext or a mapping, got {type(value).__name__}"
            )
        get = value.get
        language = get("language")
        if language.__class__ is not str:
            raise ValueError(f"a routing context needs a 'language' code string, got {value!r}")
        themes = get("themes", _ABSENT)
        regions = get("regions", _ABSENT)
        embedding = get("theme_embedding")
        return cls(
            language,
            _names("theme", get("theme")) if themes is _ABSENT else _names("themes", themes),
            _names("region", get("region")) if regions is _ABSENT else _names("regions", regions),
            None if embedding is None else _embedding(embedding),
        )


_ABSENT = object()
ContextLike = RoutingContext | Mapping[str, Any]


def _names(field: str, raw: Any) -> tuple[str, ...]:
    """One name, several names, or none (None and "" mean none)."""
    if raw is None or raw.__class__ is str:
        return (raw,) if raw else ()
    if isinstance(raw, bytes | Mapping) or not isinstance(raw, Iterable):
        raise TypeError(
            f"a routing context's {field!r} must be a string or a list of strings, got "
            f"{type(raw).__name__}: {raw!r}"
        )
    names = tuple(name for name in raw if name is not None and name != "")
    for name in names:
        if name.__class__ is not str:
            raise TypeError(
                f"a routing context's {field!r} must hold strings, got {name!r} "
                f"({type(name).__name__}) in {raw!r}"
            )
    return names


def _embedding(raw: Any) -> tuple[float, ...]:
    """A flat tuple of floats (finiteness is checked per batch, when encoded)."""
    try:
        return tuple(float(x) for x in raw)
    except (TypeError, ValueError):
        raise TypeError(
            "a routing context's 'theme_embedding' must be a flat sequence of numbers, got "
            f"{preview(raw)}"
        ) from None


def preview(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_context(context: RoutingContext) -> None:
    """Refuse a context built directly with fields routing cannot read (after a cheap check)."""
    if not isinstance(context, RoutingContext):
        raise TypeError(
            f"a routing context is a RoutingContext or a mapping, got {type(context).__name__}"
        )
    language, themes, regions, embedding = context
    if language.__class__ is not str:
        raise TypeError(f"a routing context's 'language' must be a code string, got {language!r}")
    for field, names in (("themes", themes), ("regions", regions)):
        if names.__class__ is not tuple or any(name.__class__ is not str for name in names):
            raise TypeError(
                f"a RoutingContext's {field!r} must be a tuple of strings, got {preview(names)}; "
                "RoutingContext.coerce({...}) builds one from a mapping"
            )
    if embedding is not None and (
        embedding.__class__ is not tuple or any(x.__class__ is not float for x in embedding)
    ):
        raise TypeError(
            "a RoutingContext's 'theme_embedding' must be a tuple of floats or None, got "
            f"{preview(embedding)}; RoutingContext.coerce({{...}}) builds one from a mapping"
        )


# END
