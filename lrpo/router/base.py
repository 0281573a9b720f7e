"""`BaseRouter`: routing a batch, recording feedback, periodic updates and exact state.

Subclasses (one policy each) fill three slots: the per-row fields they learn, how they choose
the routed languages of a batch, and how they learn from one window of feedback.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .config import MAX_ABS_VALUE, RouterConfig
from .context import ContextLike, EncodedBatch, RoutingContext, encode_contexts
from .draws import keys_to_uint64, uniforms
from .feedback import BucketSums, WindowStats, aggregate_window
from .plan import RoutingPlan, RoutingProbabilities
from .state import check_count, check_counts, entry, refuse
from .tables import RowTable
from .weights import concat_ranges

__all__ = ["BaseRouter", "DistributionRouter"]

FORMAT_VERSION = 1
_LOG_FLOOR = float(np.log(1e-6))
_COUNTERS = (
    "cold_start_themes",
    "cold_start_regions",
    "nonfinite_rewards",
    "off_arm_rollouts",
    "ignored_regions",
)


class BaseRouter(ABC):
    """Shared machinery of every language router; see :class:`lrpo.LanguageRouter`.

    Routing is a pure function of (seed, step, prompt key, router state): every data-parallel
    rank that routes the same batch at the same step gets the same plan without communicating.
    """

    #: Per-row fields of the theme and region tables; the first is the routing logit.
    row_fields: ClassVar[tuple[str, ...]] = ("logits",)
    #: Row fields that can never be negative (checked when a state is loaded).
    nonnegative_fields: ClassVar[tuple[str, ...]] = ()
    #: Whether recorded feedback changes the router (baselines do not learn).
    learns: ClassVar[bool] = True

    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = config if config is not None else RouterConfig()
        self.languages = self.config.languages
        self._codes = np.array(self.languages, dtype=object)
        self._arm_index = {code: i for i, code in enumerate(self.languages)}
        self.step = 0
        self.num_updates = 0
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self._themes = RowTable(self.row_fields, len(self.languages))
        self._regions = RowTable(self.row_fields, len(self.languages))
        self._buckets = BucketSums(len(self.languages))
        self._anchors = self._unit_anchors()
        self._unrouted_themes = frozenset(self.config.unrouted_themes)
        self._regional_themes = frozenset(self.config.regional_themes)
        theme_names, region_names = self._initial_rows()
        for name in theme_names:
            self._themes.add(name, self._row_values(self._prior(name, self.config.theme_priors)))
        for name in region_names:
            self._regions.add(name, self._row_values(self._prior(name, self.config.region_priors)))
        # Stands for this router in the plans it routes, so that it records only its own; and
        # for its history of recorded steps, replaced when a state is loaded, so that a plan is
        # recorded once in a history (a benchmark may rewind the state and record it again).
        self._origin = object()
        self._history = object()
        # Stands for the current theme and region row ids; replaced whenever rows are added or
        # loaded, so that a plan can tell whether the encoding it kept from `route` still holds.
        self._layout = object()

    # ----------------------------------------------------------------- routing
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
            if encoded.all_routed:
                arms[:, k_on:] = chosen
            else:
                arms[:, k_on:] = np.where(encoded.routed[inverse, None], chosen, arms[:, k_on:])
        if encoded.all_homes_are_arms:  # then every arm is >= 0
            languages = self._codes[arms]
        else:
            languages = np.where(
                arms >= 0, self._codes[np.maximum(arms, 0)], encoded.home_codes[inverse, None]
            )
        plan = RoutingPlan(
            contexts=contexts,
            languages=languages,
            arms=arms,
            step=step,
            keys=keys,
            effective=effective,
        )
        plan._stamp(self._origin, self._layout, encoded)
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

    # ---------------------------------------------------------------- learning
    def record(self, plan: RoutingPlan, rewards: np.ndarray | Sequence[Sequence[float]]) -> bool:
        """Record one training step's B x K rewards for ``plan``; update every M steps.

        A plan is recorded once (until a state is loaded), by the router whose :meth:`route`
        made it; a plan built by hand (or joined, or unpickled) must index this router's
        languages. NaN, infinite and huge rewards (beyond ±1e100, whose sums would overflow)
        are unusable, and so are rollouts in a language that is not an arm: both are left out
        of the statistics and counted (``nonfinite_rewards``, ``off_arm_rollouts``). Returns
        whether an update ran.
        """
        self._check_plan(plan)
        rewards = self._rewards_for(plan, rewards)
        if self.learns:
            self._collect(plan, rewards)
        plan._mark_recorded(self._history, self.step)
        self.step += 1
        if self.step % self.config.update_period:
            return False
        self.update()
        return True

    def update(self) -> None:
        """Learn from the feedback recorded since the last update, then forget it."""
        if self._buckets.weight.any():
            self._learn(self._aggregate())
        self._buckets.clear()
        self.num_updates += 1

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to route and learn exactly as this router would (JSON-safe)."""
        return {
            "format_version": FORMAT_VERSION,
            "router": type(self).__name__,
            "config": self.config.model_dump(mode="json"),
            "params": self._params(),
            "step": self.step,
            "num_updates": self.num_updates,
            "counters": dict(self.counters),
            "themes": self._themes.state_dict(),
            "regions": self._regions.state_dict(),
            "buckets": self._buckets.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`.

        The whole state is checked before any of it is loaded: a state of another router,
        config or format version, or a damaged or edited one (a negative step, a NaN logit, a
        row named twice, ...), is refused with the field that is wrong, and this router keeps
        its own state.
        """
        version = entry(state, "format_version")
        if type(version) is not int or version != FORMAT_VERSION:
            raise ValueError(
                f"router state format_version {version!r} is not {FORMAT_VERSION}: this lrpo "
                "reads states saved by its own state_dict()"
            )
        if entry(state, "router") != type(self).__name__:
            raise ValueError(f"state is of a {state['router']}, not a {type(self).__name__}")
        saved = RouterConfig.model_validate(entry(state, "config"))
        if saved != self.config:
            differ = sorted(
                k for k in RouterConfig.model_fields if getattr(saved, k) != getattr(self.config, k)
            )
            raise ValueError(f"state was saved with a different config; fields differ: {differ}")
        if entry(state, "params") != self._params():
            raise ValueError(f"state params {state['params']} differ from {self._params()}")
        step = check_count(entry(state, "step"), "step")
        num_updates = check_count(entry(state, "num_updates"), "num_updates")
        counters = _counters_from(entry(state, "counters"))
        theme_names, region_names = self._initial_rows()
        themes = self._table_from_state(entry(state, "themes"), "themes", theme_names)
        regions = self._table_from_state(entry(state, "regions"), "regions", region_names)
        shape = (len(themes), len(regions) + 1, len(self.languages))
        buckets = BucketSums.from_state(entry(state, "buckets"), shape)
        self.step, self.num_updates, self.counters = step, num_updates, counters
        self._themes, self._regions, self._buckets = themes, regions, buckets
        self._layout, self._history = object(), object()

    # ----------------------------------------------------------------- reports
    def metrics(self, step: int | None = None) -> dict[str, float]:
        """Scalars for a trainer's logs, prefixed ``router/``."""
        step = self.step if step is None else step
        return {
            "router/step": float(self.step),
            "router/updates": float(self.num_updates),
            "router/epsilon": self.config.epsilon.value(step),
            "router/temperature": self.config.temperature.value(step),
            "router/theme_rows": float(len(self._themes)),
            "router/region_rows": float(len(self._regions)),
            **{f"router/{name}": float(count) for name, count in self.counters.items()},
        }

    def theme_table(self, field: str | None = None) -> tuple[list[str], np.ndarray]:
        """Theme names and their (T x L) rows of ``field`` (default: the routing logits)."""
        return list(self._themes.names), self._themes.data[field or self.row_fields[0]].copy()

    def region_table(self, field: str | None = None) -> tuple[list[str], np.ndarray]:
        """Region names and their (G x L) rows of ``field`` (default: the routing logits)."""
        return list(self._regions.names), self._regions.data[field or self.row_fields[0]].copy()

    # ------------------------------------------------------ slots for policies
    @abstractmethod
    def _choose(
        self, encoded: EncodedBatch, step: int, keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Arm ids ``(B, K - K_on)`` for the routed slots of every prompt (not unique context),
        and the effective distribution ``(B, L)`` they were drawn from, if there is one."""

    @abstractmethod
    def _distribution(self, encoded: EncodedBatch, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(policy distribution, effective distribution)``, each ``(U, L)`` per unique context."""

    def _learn(self, stats: WindowStats) -> None:  # noqa: B027 (baselines do not learn)
        """Update the tables from one window's statistics (learning routers override)."""

    def _initial_rows(self) -> tuple[list[str], list[str]]:
        """Names of the theme and region rows every router of this config starts with."""
        config = self.config
        anchors = tuple(config.theme_anchors) if config.theme_input == "embeddings" else ()
        themes = dict.fromkeys(anchors + config.themes + tuple(config.theme_priors))
        return list(themes), list(dict.fromkeys(config.regions + tuple(config.region_priors)))

    def _table_from_state(self, saved: Any, where: str, initial: list[str]) -> RowTable:
        """A checked table of a state: its rows begin with the configured ones (anchor rows
        must keep their places: embeddings are matched to the first rows)."""
        table = RowTable.from_state(
            saved, self.row_fields, len(self.languages), where=where,
            nonnegative=self.nonnegative_fields,
        )  # fmt: skip
        if table.names[: len(initial)] != initial:
            raise refuse(f"{where}.names", f"must begin with the configured rows {initial}")
        return table

    def _row_values(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Initial values of a new row from its prior logits."""
        return {"logits": logits}

    def _params(self) -> dict[str, Any]:
        """Constructor settings beyond the config, saved with the state."""
        return {}

    # ---------------------------------------------------------------- helpers
    def _rewards_for(self, plan: RoutingPlan, rewards: Any) -> np.ndarray:
        """``rewards`` as a float array of the plan's shape, or a clear error."""
        try:
            array = np.asarray(rewards, dtype=np.float64)
        except (TypeError, ValueError):
            rows = rewards if isinstance(rewards, Sequence) else ()
            lengths = sorted({len(row) for row in rows if isinstance(row, Sequence)})
            ragged = len(lengths) > 1
            got = f"rows of lengths {lengths}" if ragged else "values that are not numbers"
            raise ValueError(
                f"rewards must be a B x K array of numbers, {plan.arms.shape} for this plan "
                f"(one row of K rewards per prompt, in plan order); got {got}"
            ) from None
        if array.shape != plan.arms.shape:
            raise ValueError(
                f"rewards have shape {array.shape}, the plan has {plan.arms.shape} (B x K): "
                "pass one reward per routed rollout, in plan order"
            )
        return array

    def _check_plan(self, plan: RoutingPlan) -> None:
        """Refuse a plan recorded before, routed by another router, or not of these arms."""
        recorded_at = plan._recorded_at(self._history)
        if recorded_at is not None:
            raise ValueError(
                f"this plan was recorded already, at router step {recorded_at}: record each "
                "step's plan once, and route a new plan for every step"
            )
        if plan._origin is self._origin:
            return
        if plan._origin is not None:
            raise ValueError(
                "this plan was routed by another router object: record a plan with the router "
                "whose route() made it (its arm ids index that router's languages)"
            )
        arms, languages, size = plan.arms, plan.languages, len(self.languages)
        if not (
            isinstance(arms, np.ndarray)
            and isinstance(languages, np.ndarray)
            and arms.dtype.kind in "iu"
            and arms.ndim == 2
            and languages.shape == arms.shape == (len(plan.contexts), arms.shape[1])
            and (not arms.size or -1 <= arms.min() <= arms.max() < size)
        ):
            raise ValueError(
                f"a plan needs plan.arms, integer ids in -1..{size - 1}, and plan.languages, "
                "as arrays of one shape (B, K) with B = len(plan.contexts); got "
                f"{_shape(arms)} arms and {_shape(languages)} languages for "
                f"{len(plan.contexts)} contexts"
            )
        on_arm = arms >= 0
        if not np.array_equal(self._codes[arms[on_arm]], languages[on_arm]):
            raise ValueError(
                "plan.languages are not this router's languages at plan.arms (arms are "
                f"{list(self.languages)}, in this order): the plan was made by another router"
            )

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
        """Encode contexts against the current theme and region rows."""
        config = self.config
        return encode_contexts(
            contexts,
            arm_index=self._arm_index,
            theme_index=self._themes.index,
            region_index=self._regions.index,
            unrouted_themes=self._unrouted_themes,
            regional_themes=self._regional_themes,
            all_regions_apply=config.region_scope == "all",
            anchors=self._anchors,
            anchor_temperature=config.anchor_temperature,
        )

    def _encode_for_learning(self, plan: RoutingPlan) -> EncodedBatch:
        """Encode a plan's contexts and give unseen themes and regions their rows.

        The encoding ``route`` kept in the plan is reused while the rows it was made against
        are unchanged (``_layout``): encoding again would give the same arrays.
        """
        encoded = plan._encoding_for(self._layout)
        if encoded is None:
            encoded = self._encode(plan.contexts)
        config = self.config
        for name in encoded.new_themes:
            self._themes.add(name, self._cold_start(self._themes, name, config.theme_priors))
        for name in encoded.new_regions:
            self._regions.add(name, self._cold_start(self._regions, name, config.region_priors))
        if encoded.new_themes or encoded.new_regions:
            self._layout = object()
        self.counters["cold_start_themes"] += len(encoded.new_themes)
        self.counters["cold_start_regions"] += len(encoded.new_regions)
        return encoded

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
        if self.config.prior_kind == "logits":
            return np.array([values.get(code, 0.0) for code in self.languages], dtype=np.float64)
        weights = np.array([values.get(code, 0.0) for code in self.languages], dtype=np.float64)
        return np.maximum(np.log(np.maximum(weights, 1e-6)), _LOG_FLOOR)

    def _unit_anchors(self) -> np.ndarray | None:
        if self.config.theme_input != "embeddings":
            return None
        anchors = np.array(list(self.config.theme_anchors.values()), dtype=np.float64)
        return anchors / np.linalg.norm(anchors, axis=1, keepdims=True)

    def _collect(self, plan: RoutingPlan, rewards: np.ndarray) -> None:
        """Expand a step into flat (theme row, region row, arm, weight, reward) feedback."""
        finite = np.abs(rewards) <= MAX_ABS_VALUE  # False for NaN and infinities too
        on_arm = plan.arms >= 0
        self.counters["nonfinite_rewards"] += finite.size - int(np.count_nonzero(finite))
        self.counters["off_arm_rollouts"] += int(np.count_nonzero(finite & ~on_arm))
        encoded = self._encode_for_learning(plan)
        self._count_ignored_regions(encoded)
        usable = finite & on_arm
        if self.config.feedback == "routed":
            usable[:, : self.config.num_on_policy] = False
            usable[~encoded.routed[encoded.inverse]] = False
        prompt, theme, weight, region = _theme_region_pairs(encoded)
        keep = usable[prompt]  # (pairs, K)
        k = plan.num_rollouts
        shape = (len(self._themes), len(self._regions) + 1, len(self.languages))
        self._buckets.add(
            shape,
            theme=np.repeat(theme, k)[keep.ravel()],
            region=np.repeat(region, k)[keep.ravel()],
            arm=plan.arms[prompt][keep],
            weight=np.repeat(weight, k)[keep.ravel()],
            reward=rewards[prompt][keep],
        )

    def _count_ignored_regions(self, encoded: EncodedBatch) -> None:
        """Count prompts whose regions add nothing (no regional theme).

        Warns the first time if no theme row is regional at all: then no region is ever
        learned, which is what a user with their own theme names would not expect.
        """
        if self.config.region_scope == "all" or not encoded.region_weights.nnz:
            return
        has_region = np.zeros(len(encoded.regional), dtype=bool)
        has_region[encoded.region_weights.rows] = True
        ignored = int(np.count_nonzero((has_region & ~encoded.regional)[encoded.inverse]))
        first = ignored and not self.counters["ignored_regions"]
        if first and self._regional_themes.isdisjoint(self._themes.index):
            warnings.warn(
                f"prompts carry regions, but no theme is one of regional_themes="
                f"{list(self.config.regional_themes)}, so region_scope='regional_themes' "
                "ignores every region (counted in router/ignored_regions): list your regional "
                "themes in regional_themes, or set region_scope='all'",
                UserWarning,
                stacklevel=4,
            )
        self.counters["ignored_regions"] += ignored

    def _aggregate(self) -> WindowStats:
        if self.config.region_scope == "all":
            region_themes = np.ones(len(self._themes), dtype=bool)
        else:
            regional = self._regional_themes
            region_themes = np.array([name in regional for name in self._themes.names], dtype=bool)
        return aggregate_window(
            self._buckets, region_themes=region_themes, group_norm=self.config.group_norm
        )


def _shape(value: Any) -> str:
    """An array's dtype and shape, or the type of something else, for messages."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape}"
    return type(value).__name__


def _counters_from(saved: Any) -> dict[str, int]:
    """Checked counters of a state; a counter newer than the state starts at 0."""
    counts = check_counts(saved, "counters", known=_COUNTERS)
    return {name: counts.get(name, 0) for name in _COUNTERS}


def _theme_region_pairs(encoded: EncodedBatch) -> tuple[np.ndarray, ...]:
    """Every (prompt, theme row, weight, region row) combination; region -1 means none."""
    if encoded.theme_weights.one_per_row and not encoded.region_weights.nnz:
        return _one_pair_per_prompt(encoded)
    themes = encoded.theme_weights.take(encoded.inverse)
    regions = encoded.region_weights.take(encoded.inverse)
    per_prompt = np.bincount(regions.rows, minlength=len(encoded.inverse))
    region_starts = np.cumsum(per_prompt) - per_prompt
    repeats = np.maximum(per_prompt, 1)[themes.rows]
    prompt = np.repeat(themes.rows, repeats)
    offset = concat_ranges(np.zeros_like(repeats), repeats)
    padded = np.append(regions.cols, -1)
    has_region = per_prompt[prompt] > 0
    position = np.where(has_region, region_starts[prompt] + offset, len(padded) - 1)
    return (
        prompt,
        np.repeat(themes.cols, repeats),
        np.repeat(themes.weights, repeats),
        padded[position],
    )


def _one_pair_per_prompt(encoded: EncodedBatch) -> tuple[np.ndarray, ...]:
    """:func:`_theme_region_pairs` when every context has one theme row and no region: the
    usual batch, whose pairs are its prompts, without the general expansion's dozen steps."""
    size = len(encoded.inverse)
    themes = encoded.theme_weights
    return (
        np.arange(size),
        themes.cols[encoded.inverse],
        themes.weights[encoded.inverse],
        np.full(size, -1),
    )


class DistributionRouter(BaseRouter):
    """A router that draws each routed rollout from an explicit distribution per prompt."""

    def _choose(
        self, encoded: EncodedBatch, step: int, keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        _, effective = self._distribution(encoded, step)
        cdf = np.cumsum(effective, axis=1)[encoded.inverse]
        cdf /= cdf[:, -1:]
        draws = self._uniforms(step, keys, stream=0)
        arms = (draws[:, :, None] >= cdf[:, None, :]).sum(axis=-1)
        return np.minimum(arms, len(self.languages) - 1), effective[encoded.inverse]
