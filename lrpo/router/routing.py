"""`RouterCore`: routing a batch from the theme and region tables; `BaseRouter` adds learning."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import count
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from .config import EmaPolicy, RouterConfig
from .context import ContextLike, RoutingContext, check_context
from .draws import keys_to_uint64, uniforms
from .plan import RoutingPlan, RoutingProbabilities
from .state import RowTable
from .weights import Columns, EncodedBatch, add_anchor_weights

__all__ = ["RouterCore"]

_LOG_FLOOR = float(np.log(1e-6))


class RouterCore(ABC):
    """Routing shared by every language router; see :class:`lrpo.LanguageRouter`.

    Routing is a pure function of (seed, step, prompt key, router state): data-parallel ranks
    agree without communicating. A class routes one kind of ``config.policy``; handed the
    default (EMA) policy, it takes its own default, and it refuses another non-default one.
    """

    #: The policy this class routes; its defaults stand in for the default (EMA) policy.
    policy_type: ClassVar[type[BaseModel]] = EmaPolicy
    #: Per-row fields of the theme and region tables; the first is the routing logit.
    row_fields: ClassVar[tuple[str, ...]] = ("logits",)

    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = self._own_config(RouterConfig() if config is None else config)
        self.policy = self.config.policy
        self.languages = self.config.languages
        self.step = 0
        self._codes = np.array(self.languages, dtype=object)
        self._arm_index = {code: i for i, code in enumerate(self.languages)}
        self._themes = RowTable(self.row_fields, len(self.languages))
        self._regions = RowTable(self.row_fields, len(self.languages))
        self._anchors = self._unit_anchors()
        self._unrouted_themes = frozenset(self.config.unrouted_themes)
        self._regional_themes = frozenset(self.config.regional_themes)
        theme_names, region_names = self._initial_rows()
        for name in theme_names:
            self._themes.add(name, self._row_values(self._prior(name, self.config.theme_priors)))
        for name in region_names:
            self._regions.add(name, self._row_values(self._prior(name, self.config.region_priors)))
        # Stands for this router in the plans it routes, so that it records only its own.
        self._origin = object()

    @classmethod
    def _own_config(cls, config: RouterConfig) -> RouterConfig:
        """``config`` with a policy of this class: its own, or this class's default."""
        policy, kind = config.policy, cls.policy_type.model_fields["kind"].default
        if isinstance(policy, cls.policy_type):
            return config
        if policy != EmaPolicy():
            raise ValueError(
                f"{cls.__name__} routes policy kind {kind!r}, but the config's policy is "
                f"{policy.kind!r}: build the router the config names with "
                f"lrpo.router.make_router(config), or set policy={{'kind': {kind!r}, ...}}"
            )
        try:  # validated again, so that the policy's own defaults (epsilon) apply
            given = {name: getattr(config, name) for name in config.model_fields_set}
            return type(config).model_validate({**given, "policy": cls.policy_type()})
        except ValidationError:
            raise ValueError(
                f"{cls.__name__} has no default settings: pass RouterConfig(policy={{'kind': "
                f"{kind!r}, ...}}) with its settings (see lrpo.router.config)"
            ) from None

    def route(
        self,
        contexts: Sequence[ContextLike],
        *,
        step: int | None = None,
        keys: Sequence[int | str] | np.ndarray | None = None,
    ) -> RoutingPlan:
        """Assign K languages to each of B prompts; the first K_on keep the prompt's language.

        Parameters
        ----------
        contexts : sequence of RoutingContext or mapping
            One per prompt: ``language``, ``theme(s)``, ``region(s)``.
        step : int, optional
            Training step for the schedules and the random draws; default ``self.step``.
        keys : sequence of int or str, optional
            A stable key per prompt (its global index in the step, or an id); the default
            ``0..B-1`` suits one batch per step. Draws depend only on (seed, step, key).

        Returns
        -------
        RoutingPlan
            The B x K languages, their arm ids and (distribution routers) the distributions.
        """
        contexts = tuple(map(RoutingContext.coerce, contexts))
        step = self.step if step is None else int(step)
        keys = self._keys(keys, len(contexts))
        encoded = self._encode(contexts)
        k_on, k, inverse = self.config.num_on_policy, self.config.num_rollouts, encoded.inverse
        arms = encoded.home_arms[inverse, None].repeat(k, axis=1)
        effective = None
        if self.config.num_routed:
            chosen, effective = self._choose(encoded, step, keys)
            arms[:, k_on:] = np.where(encoded.routed[inverse, None], chosen, arms[:, k_on:])
        languages = np.where(
            arms >= 0, self._codes[np.maximum(arms, 0)], encoded.home_codes[inverse, None]
        )
        plan = RoutingPlan(contexts, languages, arms, step, keys, effective)
        object.__setattr__(plan, "_origin", self._origin)  # frozen: set once, here
        return plan

    def probabilities(
        self, context: ContextLike, *, step: int | None = None
    ) -> RoutingProbabilities:
        """The softmax and the effective (exploration-mixed) distribution for one prompt."""
        step = self.step if step is None else int(step)
        softmax, effective = self.distributions((context,), step=step)
        return RoutingProbabilities(
            languages=self.languages,
            softmax=softmax[0],
            effective=effective[0],
            epsilon=self.config.epsilon.value(step),
            temperature=self.config.temperature.value(step),
        )

    def distributions(
        self, contexts: Sequence[ContextLike], *, step: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Policy and effective distributions ``(B, L)`` of a batch of prompts, in one pass."""
        step = self.step if step is None else int(step)
        encoded = self._encode(tuple(map(RoutingContext.coerce, contexts)))
        policy, effective = self._distribution(encoded, step)
        return policy[encoded.inverse], effective[encoded.inverse]

    def theme_table(self, field: str | None = None) -> tuple[list[str], np.ndarray]:
        """Theme names and their (T x L) rows of ``field`` (default: the routing logits)."""
        return list(self._themes.names), self._themes.data[field or self.row_fields[0]].copy()

    def region_table(self, field: str | None = None) -> tuple[list[str], np.ndarray]:
        """Region names and their (G x L) rows of ``field`` (default: the routing logits)."""
        return list(self._regions.names), self._regions.data[field or self.row_fields[0]].copy()

    @abstractmethod
    def _choose(
        self, encoded: EncodedBatch, step: int, keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Arm ids ``(B, K - K_on)`` of the routed slots of every prompt, and the effective
        distribution ``(B, L)`` they were drawn from, if there is one."""

    @abstractmethod
    def _distribution(self, encoded: EncodedBatch, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(policy distribution, effective distribution)``, each ``(U, L)`` per unique context."""

    def _row_values(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Initial values of a new row from its prior logits."""
        return {"logits": logits}

    def _initial_rows(self) -> tuple[list[str], list[str]]:
        """Names of the theme and region rows every router of this config starts with."""
        config = self.config
        anchors = tuple(config.theme_anchors) if config.theme_input == "embeddings" else ()
        themes = dict.fromkeys(anchors + config.themes + tuple(config.theme_priors))
        return list(themes), list(dict.fromkeys(config.regions + tuple(config.region_priors)))

    def _keys(self, keys: Sequence[int | str] | np.ndarray | None, size: int) -> np.ndarray:
        if keys is None:
            return np.arange(size, dtype=np.uint64)
        encoded = keys_to_uint64(keys)
        if encoded.shape != (size,):
            raise ValueError(f"got {encoded.shape[0]} routing keys for {size} prompts")
        return encoded

    def _uniforms(self, step: int, keys: np.ndarray, stream: int, depth: int = 1) -> np.ndarray:
        """Uniform draws ``(B, K - K_on[, depth])`` for the routed slots."""
        draws = uniforms(self.config.seed, step, keys, self.config.num_rollouts, stream, depth)
        return draws[:, self.config.num_on_policy :]

    def _encode(self, contexts: Sequence[RoutingContext]) -> EncodedBatch:
        """Row weights of contexts, in one pass over the unique ones; a theme embedding gets
        softmax(cosine / anchor_temperature) weights over the anchor rows (the first themes)."""
        # Each new context gets the next row, in order of first appearance (a loop in C).
        positions: defaultdict[RoutingContext, int] = defaultdict(count().__next__)
        try:
            inverse = np.fromiter(
                map(positions.__getitem__, contexts), dtype=np.int64, count=len(contexts)
            )
        except TypeError:  # an unhashable field: a list where a string or tuple belongs
            for context in contexts:
                check_context(context)
            raise
        contexts = list(positions)
        themes, regions = Columns(self._themes.index), Columns(self._regions.index)
        arm_index, anchors, unrouted = self._arm_index, self._anchors, self._unrouted_themes
        regional_themes, all_regions_apply = (
            self._regional_themes,
            self.config.region_scope == "all",
        )
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
                check_context(context)  # raises for a context built directly with wrong types
            if anchors is not None and embedding is not None:
                if embedding.__class__ is not tuple:
                    check_context(context)
                embedded_rows.append(row)
                embeddings.append(embedding)
            else:
                themes.add(row, theme_names)
            if region_names:
                regions.add(row, region_names)
            home_codes.append(language)
            home_arms.append(arm_index.get(language, -1))
            routed.append(unrouted.isdisjoint(theme_names))
            regional.append(
                bool(region_names)
                and (all_regions_apply or not regional_themes.isdisjoint(theme_names))
            )
        # Names already in the tables are strings; only new names can be anything else.
        if any(name.__class__ is not str for name in (*themes.new, *regions.new)):
            for context in contexts:
                check_context(context)
        theme_weights = themes.matrix(len(contexts))
        if embedded_rows:
            theme_weights = add_anchor_weights(
                theme_weights, embedded_rows, embeddings, anchors, self.config.anchor_temperature
            )
        return EncodedBatch(
            inverse=inverse,
            home_codes=np.array(home_codes, dtype=object),
            home_arms=np.array(home_arms, dtype=np.int64),
            routed=np.array(routed, dtype=bool),
            regional=np.array(regional, dtype=bool),
            theme_weights=theme_weights,
            region_weights=regions.matrix(len(contexts)),
            new_themes=tuple(themes.new),
            new_regions=tuple(regions.new),
        )

    def _table_rows(self, encoded: EncodedBatch, field: str) -> tuple[np.ndarray, np.ndarray]:
        """Theme and region ``field`` matrices extended with cold-start rows for unseen names."""
        config = self.config
        return (
            self._with_new_rows(self._themes, encoded.new_themes, config.theme_priors, field),
            self._with_new_rows(self._regions, encoded.new_regions, config.region_priors, field),
        )

    def _combine(
        self, encoded: EncodedBatch, themes: np.ndarray, regions: np.ndarray, squared: bool = False
    ) -> np.ndarray:
        """Sum each context's theme rows, plus its region rows where they apply: ``(U, L)``."""
        total = encoded.theme_weights.sum_rows(themes, squared)
        if encoded.region_weights.nnz:
            total += encoded.regional[:, None] * encoded.region_weights.sum_rows(regions, squared)
        return total

    def _with_new_rows(
        self, table: RowTable, names: tuple[str, ...], priors: Mapping, field: str
    ) -> np.ndarray:
        if not names:
            return table.data[field]
        rows = [self._cold_start(table, name, priors)[field] for name in names]
        return np.vstack([table.data[field], *rows])

    def _cold_start(self, table: RowTable, name: str, priors: Mapping) -> dict[str, np.ndarray]:
        """Row for a name first seen in training: its prior, or the mean of the known rows."""
        if self.config.cold_start == "mean" and len(table) and name not in priors:
            return self._row_values(table.data[self.row_fields[0]].mean(axis=0))
        return self._row_values(self._prior(name, priors))

    def _prior(self, name: str, priors: Mapping[str, Mapping[str, float]]) -> np.ndarray:
        """Prior logits of a row: configured weights or logits, else uniform (zeros)."""
        values = priors.get(name)
        if values is None:
            return np.zeros(len(self.languages))
        row = np.array([values.get(code, 0.0) for code in self.languages], dtype=np.float64)
        if self.config.prior_kind == "logits":
            return row
        return np.maximum(np.log(np.maximum(row, 1e-6)), _LOG_FLOOR)

    def _unit_anchors(self) -> np.ndarray | None:
        if self.config.theme_input != "embeddings":
            return None
        anchors = np.array(list(self.config.theme_anchors.values()), dtype=np.float64)
        return anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
