"""`BaseRouter`: routing (:class:`RouterCore`) plus recording, updates, exact state, reports."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from lrpo.metrics import MetricSums

from .config import MAX_ABS_VALUE, RouterConfig
from .feedback import BucketSums, Rows, aggregate_window
from .plan import RoutingPlan, check_plan_arms, rewards_array
from .routing import RouterCore
from .state import RowTable, check_count, check_counts, check_names, check_numbers, entry, refuse
from .weights import EncodedBatch, theme_region_pairs

__all__ = ["BaseRouter", "router_metrics"]

#: Version 2: the policy and its settings live in the saved config (version 1 kept them apart).
FORMAT_VERSION = 2
_COUNTERS = (
    "cold_start_themes",
    "cold_start_regions",
    "nonfinite_rewards",
    "off_arm_rollouts",
    "ignored_regions",
)


class BaseRouter(RouterCore):
    """Every language router: routes (:class:`~lrpo.router.routing.RouterCore`), records each
    step's rewards, updates every M steps, saves and restores its state exactly."""

    #: Row fields that can never be negative (checked when a state is loaded).
    nonnegative_fields: ClassVar[tuple[str, ...]] = ()
    #: Whether recorded feedback changes the router (baselines do not learn).
    learns: ClassVar[bool] = True

    def __init__(self, config: RouterConfig | None = None) -> None:
        super().__init__(config)
        self.num_updates = 0
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._warned_ignored_regions = False
        self._buckets = BucketSums(len(self.languages))
        # This router's history of recorded steps, replaced when a state is loaded: a plan is
        # recorded once per history (a benchmark may rewind the state and record it again).
        self._history = object()

    def record(self, plan: RoutingPlan, rewards: np.ndarray | Sequence[Sequence[float]]) -> bool:
        """Record one training step's B x K rewards for ``plan``; update every M steps.

        A plan is recorded once (until a state is loaded), by the router that routed it; a plan
        built by hand (or joined, or unpickled) must index this router's languages. NaN,
        infinite and huge rewards (beyond ±1e100) and rollouts in a language that is not an arm
        are left out and counted (``nonfinite_rewards``, ``off_arm_rollouts``). Returns whether
        an update ran.
        """
        self._check_plan(plan)
        rewards = rewards_array(plan, rewards)
        if self.learns:
            self._collect(plan, rewards)
        object.__setattr__(plan, "_recorded", (self._history, self.step))
        self.step += 1
        if self.step % self.config.update_period:
            return False
        self.update()
        return True

    def update(self) -> None:
        """Learn from the feedback recorded since the last update, then forget it."""
        if self._buckets.weight.any():
            themes, regions = self._aggregate()
            self._learn(self._themes, *themes)
            self._learn(self._regions, *regions)
        self._buckets.clear()
        self.num_updates += 1

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to route and learn exactly as this router would, JSON-safe: format
        version, config, step, counters, tables and the feedback since the last update."""
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config.model_dump(mode="json"),
            "step": self.step,
            "num_updates": self.num_updates,
            "counters": dict(self._counts),
            "themes": self._themes.state_dict(),
            "regions": self._regions.state_dict(),
            "buckets": self._buckets.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`, checked in full first: a state of another policy, config
        or format version, or a damaged one, is refused naming the field; nothing is loaded.

        Parameters
        ----------
        state : mapping
            What :meth:`state_dict` returned, possibly through JSON.
        """
        _check_version(entry(state, "format_version"))
        saved = RouterConfig.model_validate(entry(state, "config"))
        if saved.policy.kind != self.policy.kind:
            raise ValueError(
                f"state was saved by a {saved.policy.kind!r} router (config.policy.kind), this "
                f"router is {self.policy.kind!r}: build the router for it with "
                "lrpo.router.make_router(RouterConfig.model_validate(state['config']))"
            )
        if saved != self.config:
            differ = sorted(
                k for k in RouterConfig.model_fields if getattr(saved, k) != getattr(self.config, k)
            )
            raise ValueError(f"state was saved with a different config; fields differ: {differ}")
        step = check_count(entry(state, "step"), "step")
        num_updates = check_count(entry(state, "num_updates"), "num_updates")
        counts = check_counts(entry(state, "counters"), "counters", known=_COUNTERS)
        theme_names, region_names = self._initial_rows()
        themes = self._table_from_state(entry(state, "themes"), "themes", theme_names)
        regions = self._table_from_state(entry(state, "regions"), "regions", region_names)
        buckets = BucketSums.from_state(
            entry(state, "buckets"), self._bucket_shape(themes, regions)
        )
        self.step, self.num_updates = step, num_updates
        self._counts = {name: counts.get(name, 0) for name in _COUNTERS}  # newer ones start at 0
        self._themes, self._regions, self._buckets = themes, regions, buckets
        self._history = object()

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """This router's counts and gauges, whose ``metrics()`` are ``router/<name>`` floats.

        Counters (cold starts, unusable rewards, ...) are additive; step, updates, epsilon,
        temperature and row counts are gauges. Routers on data-parallel ranks are identical:
        log one rank's sums rather than merging them.

        Parameters
        ----------
        reset : bool, default False
            Set the counters to 0 after reading them (gauges stay).
        """
        step = self.step
        values = {
            "step": float(step),
            "updates": float(self.num_updates),
            "epsilon": self.config.epsilon.value(step),
            "temperature": self.config.temperature.value(step),
            "theme_rows": float(len(self._themes)),
            "region_rows": float(len(self._regions)),
            **{name: float(count) for name, count in self._counts.items()},
        }
        if reset:
            self._counts = dict.fromkeys(_COUNTERS, 0)
        return MetricSums(values, derive=router_metrics)

    def _learn(self, table: RowTable, reward: np.ndarray, weight: np.ndarray) -> None:
        """Move ``table``'s rows towards one window's ``(rows, L)`` rewards where ``weight > 0``
        (learning routers override)."""

    def _bucket_shape(self, themes: RowTable, regions: RowTable) -> tuple[int, int, int]:
        """(T, G + 1, L): bucket sums have a "no region" slot."""
        return len(themes), len(regions) + 1, len(self.languages)

    def _table_from_state(self, saved: Any, where: str, initial: list[str]) -> RowTable:
        """A checked table whose rows begin with the configured ones (anchor rows must keep
        their places: embeddings are matched to the first rows)."""
        table = RowTable(self.row_fields, len(self.languages))
        table.names = check_names(entry(saved, "names", where), f"{where}.names")
        table.index = {name: i for i, name in enumerate(table.names)}
        for field in self.row_fields:
            table.data[field] = check_numbers(
                entry(saved, field, where),
                (len(table), len(self.languages)),
                f"{where}.{field}",
                nonnegative=field in self.nonnegative_fields,
            )
        if table.names[: len(initial)] != initial:
            raise refuse(f"{where}.names", f"must begin with the configured rows {initial}")
        return table

    def _check_plan(self, plan: RoutingPlan) -> None:
        """Refuse a plan recorded before, routed by another router, or not of these arms."""
        if plan._recorded is not None and plan._recorded[0] is self._history:
            raise ValueError(
                f"this plan was recorded already, at router step {plan._recorded[1]}: record each "
                "step's plan once, and route a new plan for every step"
            )
        if plan._origin is self._origin:
            return
        if plan._origin is not None:
            raise ValueError(
                "this plan was routed by another router object: record a plan with the router "
                "whose route() made it (its arm ids index that router's languages)"
            )
        check_plan_arms(plan, self._codes)

    def _collect(self, plan: RoutingPlan, rewards: np.ndarray) -> None:
        """Add a step's usable rewards to the (theme row, region row, arm) bucket sums."""
        finite = np.abs(rewards) <= MAX_ABS_VALUE  # False for NaN and infinities too
        on_arm = plan.arms >= 0
        self._counts["nonfinite_rewards"] += finite.size - int(np.count_nonzero(finite))
        self._counts["off_arm_rollouts"] += int(np.count_nonzero(finite & ~on_arm))
        encoded = self._encode(plan.contexts)
        for table, names, priors, counter in (
            (self._themes, encoded.new_themes, self.config.theme_priors, "cold_start_themes"),
            (self._regions, encoded.new_regions, self.config.region_priors, "cold_start_regions"),
        ):
            for name in names:
                table.add(name, self._cold_start(table, name, priors))
            self._counts[counter] += len(names)
        self._count_ignored_regions(encoded)
        usable = finite & on_arm
        if self.config.feedback == "routed":
            usable[:, : self.config.num_on_policy] = False
            usable[~encoded.routed[encoded.inverse]] = False
        prompt, *pairs = theme_region_pairs(
            encoded.theme_weights, encoded.region_weights, encoded.inverse
        )
        keep = usable[prompt]  # (pairs, K)
        theme, weight, region = (np.repeat(a, plan.num_rollouts)[keep.ravel()] for a in pairs)
        self._buckets.add(
            self._bucket_shape(self._themes, self._regions),
            theme=theme,
            region=region,
            arm=plan.arms[prompt][keep],
            weight=weight,
            reward=rewards[prompt][keep],
        )

    def _count_ignored_regions(self, encoded: EncodedBatch) -> None:
        """Count prompts whose regions add nothing; warn once if no theme row is regional,
        so that no region is ever learned (unexpected with one's own theme names)."""
        if self.config.region_scope == "all" or not encoded.region_weights.nnz:
            return
        has_region = np.zeros(len(encoded.regional), dtype=bool)
        has_region[encoded.region_weights.rows] = True
        ignored = int(np.count_nonzero((has_region & ~encoded.regional)[encoded.inverse]))
        first = ignored and not self._warned_ignored_regions
        if first and self._regional_themes.isdisjoint(self._themes.index):
            self._warned_ignored_regions = True
            warnings.warn(
                f"prompts carry regions, but no theme is one of regional_themes="
                f"{list(self.config.regional_themes)}, so region_scope='regional_themes' "
                "ignores every region (counted in router/ignored_regions): list your regional "
                "themes in regional_themes, or set region_scope='all'",
                UserWarning,
                stacklevel=4,
            )
        self._counts["ignored_regions"] += ignored

    def _aggregate(self) -> tuple[Rows, Rows]:
        if self.config.region_scope == "all":
            region_themes = np.ones(len(self._themes), dtype=bool)
        else:
            regional = self._regional_themes
            region_themes = np.array([name in regional for name in self._themes.names], dtype=bool)
        return aggregate_window(
            self._buckets, region_themes=region_themes, group_norm=self.config.group_norm
        )


def router_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """A router's logged metrics: its sums, prefixed ``router/``."""
    return {f"router/{name}": float(value) for name, value in sums.items()}


def _check_version(version: Any) -> None:
    """Refuse a state of another format version; version 1 with the fix it needs."""
    if type(version) is int and version == FORMAT_VERSION:
        return
    if type(version) is int and version == 1:
        raise ValueError(
            "router state format_version 1 keeps the policy's settings apart from its config, "
            f"this lrpo reads version {FORMAT_VERSION} (the policy inside config.policy): resume "
            "it with the lrpo release that saved it, or start the router afresh"
        )
    raise ValueError(
        f"router state format_version {version!r} is not {FORMAT_VERSION}: this lrpo reads "
        "states saved by its own state_dict()"
    )
