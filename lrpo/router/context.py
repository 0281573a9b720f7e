"""What the router knows about a prompt, and its encoding as sparse row weights for a batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import count
from typing import Any, NamedTuple

import numpy as np

from .weights import RowWeights

__all__ = ["ContextLike", "EncodedBatch", "RoutingContext", "encode_contexts"]


class RoutingContext(NamedTuple):
    """A prompt as the router sees it: its language, theme(s), region(s).

    Several themes or regions sum their rows, as the reference does. ``theme_embedding`` is
    read instead of the theme labels when the router's ``theme_input`` is ``"embeddings"``.
    A named tuple, because routing builds one per prompt and must stay cheap.

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
    """A flat tuple of floats (its finiteness is checked per batch, when it is encoded)."""
    try:
        return tuple(float(x) for x in raw)
    except (TypeError, ValueError):
        raise TypeError(
            "a routing context's 'theme_embedding' must be a flat sequence of numbers, got "
            f"{_preview(raw)}"
        ) from None


def _preview(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class EncodedBatch(NamedTuple):
    """A batch of contexts as arrays: row weights for the theme and region tables.

    Batches repeat contexts (a dataset has few (language, theme, region) combinations), so
    every array describes the *unique* contexts; ``inverse[b]`` is prompt ``b``'s unique row.
    Column ids beyond a table's current rows stand for names the table has not seen yet
    (``new_themes`` / ``new_regions``, in order); the router fills them by its cold-start rule.
    A named tuple, because every routing call builds one and a frozen dataclass costs more.
    """

    inverse: np.ndarray  # (B,) unique context of each prompt
    home_codes: np.ndarray  # (U,) prompt language codes
    home_arms: np.ndarray  # (U,) arm index of the prompt language, -1 if it is not an arm
    routed: np.ndarray  # (U,) False for prompts that keep every rollout in their language
    regional: np.ndarray  # (U,) True where region rows add to the logits
    theme_weights: RowWeights  # (U, themes known + new)
    region_weights: RowWeights  # (U, regions known + new)
    new_themes: tuple[str, ...]
    new_regions: tuple[str, ...]


class _Columns:
    """Collects (row, column) pairs of weight 1, giving unseen names provisional column ids."""

    def __init__(self, index: Mapping[str, int]) -> None:
        self.index = index
        self.new: dict[str, int] = {}
        self.rows: list[int] = []
        self.cols: list[int] = []

    def add(self, row: int, names: tuple[str, ...]) -> None:
        for name in names:
            col = self.index.get(name)
            if col is None:
                col = self.new.setdefault(name, len(self.index) + len(self.new))
            self.rows.append(row)
            self.cols.append(col)

    def matrix(self, num_rows: int) -> RowWeights:
        shape = (num_rows, len(self.index) + len(self.new))
        rows = np.array(self.rows, dtype=np.int64)
        return RowWeights(rows, np.array(self.cols, dtype=np.int64), np.ones(len(rows)), shape)


def encode_contexts(
    contexts: Sequence[RoutingContext],
    *,
    arm_index: Mapping[str, int],
    theme_index: Mapping[str, int],
    region_index: Mapping[str, int],
    unrouted_themes: frozenset[str],
    regional_themes: frozenset[str],
    all_regions_apply: bool,
    anchors: np.ndarray | None = None,
    anchor_temperature: float = 0.1,
) -> EncodedBatch:
    """Turn contexts into row weights; one pass over unique contexts, none over rollouts.

    With ``anchors`` (unit rows, one per theme of ``theme_index``), a context that carries a
    theme embedding gets softmax(cosine / anchor_temperature) weights over them instead of
    its labels.
    """
    # Each new context gets the next row, in order of first appearance; the loop over the
    # prompts runs in C and hashes each context once.
    positions: defaultdict[RoutingContext, int] = defaultdict(count().__next__)
    try:
        inverse = np.fromiter(
            map(positions.__getitem__, contexts), dtype=np.int64, count=len(contexts)
        )
    except TypeError:  # an unhashable field: a list where a string or tuple belongs
        for context in contexts:
            _check_context(context)
        raise
    contexts = list(positions)
    size = len(contexts)
    themes, regions = _Columns(theme_index), _Columns(region_index)
    home_codes, home_arms, routed, regional = [], [], [], []
    embedded_rows: list[int] = []
    embeddings: list[tuple[float, ...]] = []
    for row, context in enumerate(contexts):
        language, theme_names, region_names, embedding = context
        if (
            language.__class__ is not str
            or theme_names.__class__ is not tuple
            or region_names.__class__ is not tuple
        ):
            _check_context(context)  # raises for a context built directly with wrong types
        if anchors is not None and embedding is not None:
            if embedding.__class__ is not tuple:
                _check_context(context)
            embedded_rows.append(row)
            embeddings.append(embedding)
        else:
            themes.add(row, theme_names)
        if region_names:
            regions.add(row, region_names)
        home_codes.append(language)
        home_arms.append(arm_index.get(language, -1))
        routed.append(unrouted_themes.isdisjoint(theme_names))
        regional.append(
            bool(region_names)
            and (all_regions_apply or not regional_themes.isdisjoint(theme_names))
        )
    # Names already in the tables are strings; only new names can be anything else.
    if any(name.__class__ is not str for name in (*themes.new, *regions.new)):
        for context in contexts:
            _check_context(context)
    theme_weights = themes.matrix(size)
    if embedded_rows:
        theme_weights = _add_anchor_weights(
            theme_weights, embedded_rows, embeddings, anchors, anchor_temperature
        )
    return EncodedBatch(
        inverse=inverse,
        home_codes=np.array(home_codes, dtype=object),
        home_arms=np.array(home_arms, dtype=np.int64),
        routed=np.array(routed, dtype=bool),
        regional=np.array(regional, dtype=bool),
        theme_weights=theme_weights,
        region_weights=regions.matrix(size),
        new_themes=tuple(themes.new),
        new_regions=tuple(regions.new),
    )


def _check_context(context: RoutingContext) -> None:
    """Refuse a context whose fields are not what routing reads (built directly, not coerced);
    called only once a cheaper check has failed."""
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
                f"a RoutingContext's {field!r} must be a tuple of strings, got {_preview(names)}; "
                "RoutingContext.coerce({...}) builds one from a mapping"
            )
    if embedding is not None and (
        embedding.__class__ is not tuple or any(x.__class__ is not float for x in embedding)
    ):
        raise TypeError(
            "a RoutingContext's 'theme_embedding' must be a tuple of floats or None, got "
            f"{_preview(embedding)}; RoutingContext.coerce({{...}}) builds one from a mapping"
        )


def _add_anchor_weights(
    weights: RowWeights,
    rows: list[int],
    embeddings: list[tuple[float, ...]],
    anchors: np.ndarray,
    temperature: float,
) -> RowWeights:
    """Soft-assign embedded contexts to the anchor rows (the first ``len(anchors)`` columns)."""
    sizes = sorted({len(vector) for vector in embeddings})
    if sizes != [anchors.shape[1]]:
        raise ValueError(
            f"theme_embedding must have {anchors.shape[1]} dimensions like the anchors, "
            f"got embeddings of {sizes} dimensions"
        )
    try:
        vectors = np.array(embeddings, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"theme_embedding must hold numbers, got {_preview(embeddings)}") from None
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"theme_embedding must be finite, got NaN or infinite values in "
            f"{np.count_nonzero(~finite)} context(s), e.g. "
            f"{_preview(embeddings[int(np.argmin(finite))])}"
        )
    # Scaled by the largest entry first, so that the norm of huge values does not overflow.
    vectors /= np.maximum(np.abs(vectors).max(axis=1, keepdims=True), np.finfo(float).tiny)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = (vectors / np.where(norms > 0, norms, 1.0)) @ anchors.T / temperature
    soft = np.exp(scores - scores.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    num_anchors = anchors.shape[0]
    return RowWeights.from_triples(
        np.concatenate([weights.rows, np.repeat(rows, num_anchors)]),
        np.concatenate([weights.cols, np.tile(np.arange(num_anchors), len(rows))]),
        np.concatenate([weights.weights, soft.ravel()]),
        weights.shape,
    )
