"""Routing's shortcuts give exactly what the general code gives: `plan.effective`, the
encoding a plan keeps from `route` for `record`, and the fast paths for small, plain batches."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from lrpo import (
    DominantLanguageRouter,
    FixedDistributionRouter,
    LanguageRouter,
    MonolingualRouter,
    RouterConfig,
    RoutingPlan,
    ThompsonRouter,
)
from lrpo.router import draws
from lrpo.router.weights import RowWeights

GK, RK = "General Knowledge", "Regional Knowledge"
CONFIG = RouterConfig(
    languages=("en", "de", "ja"),
    themes=(GK, RK, "Translation"),
    regions=("Japan",),
    num_rollouts=4,
    num_on_policy=1,
    update_period=1,
    seed=7,
)
# Unseen themes and regions (cold starts), an unrouted theme, several themes, a prompt
# language that is not an arm, and repeated contexts.
CONTEXTS = [
    {"language": "ja", "theme": RK, "region": "Japan"},
    {"language": "de", "theme": "Cooking"},
    {"language": "en", "theme": "Translation"},
    {"language": "sw", "theme": GK, "region": "Kenya"},
    {"language": "de", "themes": [GK, "Law"]},
    {"language": "ja", "theme": RK, "region": "Japan"},
]


def rewards_for(plan: RoutingPlan, seed: int) -> np.ndarray:
    rewards = np.random.default_rng(seed).random(plan.arms.shape)
    rewards[0, -1] = np.nan
    return rewards


def without_encoding(plan: RoutingPlan) -> RoutingPlan:
    """The same plan as a trainer or a service would build it: nothing kept from `route`."""
    return dataclasses.replace(plan)


# ------------------------------------------------------------------ plan.effective
@pytest.mark.parametrize(
    "make",
    [
        lambda: LanguageRouter(CONFIG),
        lambda: DominantLanguageRouter(CONFIG, language="input", weight=0.6),
        lambda: FixedDistributionRouter(CONFIG, distribution={"de": 2.0, "ja": 1.0}),
    ],
    ids=["learned", "input-dominant", "fixed"],
)
def test_plan_effective_is_the_distribution_each_prompt_was_drawn_from(make):
    router = make()
    for step in range(4):
        plan = router.route(CONTEXTS, step=3 * step + 1)  # not the router's own step
        _, effective = router.distributions(CONTEXTS, step=plan.step)
        assert plan.effective.shape == (len(CONTEXTS), len(router.languages))
        np.testing.assert_array_equal(plan.effective, effective)
        router.record(plan, rewards_for(plan, step))


@pytest.mark.parametrize(
    ("make", "num_on_policy"),
    [
        (lambda config: ThompsonRouter(config), 1),
        (lambda config: MonolingualRouter(config), 1),
        (lambda config: LanguageRouter(config), 4),
    ],
    ids=["thompson", "monolingual", "nothing-routed"],
)
def test_plan_effective_is_none_without_a_drawn_distribution(make, num_on_policy):
    config = RouterConfig.model_validate(CONFIG.model_dump() | {"num_on_policy": num_on_policy})
    assert make(config).route(CONTEXTS).effective is None


def test_concat_joins_effective_only_when_every_plan_has_it():
    router = LanguageRouter(CONFIG)
    halves = [
        router.route(CONTEXTS[:2], keys=[0, 1]),
        router.route(CONTEXTS[2:], keys=[2, 3, 4, 5]),
    ]
    joined = RoutingPlan.concat(halves)
    np.testing.assert_array_equal(joined.effective, router.route(CONTEXTS).effective)
    no_effective = dataclasses.replace(halves[1], effective=None)
    assert RoutingPlan.concat([halves[0], no_effective]).effective is None


def test_an_empty_batch_routes_to_an_empty_plan():
    for router in (LanguageRouter(CONFIG), ThompsonRouter(CONFIG), MonolingualRouter(CONFIG)):
        plan = router.route([])
        assert plan.arms.shape == plan.languages.shape == (0, 4)
        router.record(plan, np.zeros((0, 4)))
    assert LanguageRouter(CONFIG).route([]).effective.shape == (0, 3)


# ------------------------------------------------- the encoding a plan keeps for record
def twin_routers() -> tuple[LanguageRouter, LanguageRouter]:
    return LanguageRouter(CONFIG), LanguageRouter(CONFIG)


def test_record_reuses_the_routing_encoding_and_learns_exactly_as_without_it():
    router, twin = twin_routers()
    for step in range(5):
        plan = router.route(CONTEXTS)
        assert plan._encoding_for(router._layout) is not None  # the shortcut is taken
        router.record(plan, rewards_for(plan, step))
        twin.record(without_encoding(plan), rewards_for(plan, step))
        assert router.state_dict() == twin.state_dict()
    assert router.counters["cold_start_themes"] == 2  # Cooking, Law
    assert router.counters["cold_start_regions"] == 1  # Kenya


def test_a_joined_plan_records_as_the_whole_routed_plan():
    router, twin = twin_routers()
    halves = [
        router.route(CONTEXTS[:3], keys=[0, 1, 2]),
        router.route(CONTEXTS[3:], keys=[3, 4, 5]),
    ]
    joined = RoutingPlan.concat(halves)  # keeps no encoding: record encodes again
    whole = twin.route(CONTEXTS)
    assert joined._encoding is None and whole._encoding_for(twin._layout) is not None
    np.testing.assert_array_equal(joined.arms, whole.arms)
    router.record(joined, rewards_for(joined, 0))
    twin.record(whole, rewards_for(whole, 0))
    assert router.state_dict() == twin.state_dict()


def test_an_encoding_made_before_rows_changed_is_not_reused():
    """Plans recorded out of order, or after a state was loaded, are encoded again."""
    router, twin = twin_routers()
    first = router.route(CONTEXTS[:2], step=0)  # Cooking is unseen for both plans
    second = router.route([CONTEXTS[1], CONTEXTS[4]], step=0)
    router.record(second, rewards_for(second, 1))  # adds Cooking and Law rows
    assert first._encoding_for(router._layout) is None
    router.record(first, rewards_for(first, 2))
    twin.record(without_encoding(second), rewards_for(second, 1))
    twin.record(without_encoding(first), rewards_for(first, 2))
    assert router.state_dict() == twin.state_dict()

    plan = router.route(CONTEXTS)
    router.load_state_dict(twin.state_dict())  # same rows, but loaded: the layout is new
    assert plan._encoding_for(router._layout) is None
    router.record(plan, rewards_for(plan, 3))
    twin.record(without_encoding(plan), rewards_for(plan, 3))
    assert router.state_dict() == twin.state_dict()


def test_an_encoding_is_never_used_by_another_router_or_after_pickling():
    router, other = twin_routers()
    plan = router.route(CONTEXTS)
    assert plan._encoding_for(other._layout) is None
    restored = pickle.loads(pickle.dumps(plan))
    assert restored._encoding is None
    np.testing.assert_array_equal(restored.arms, plan.arms)
    np.testing.assert_array_equal(restored.effective, plan.effective)


# ------------------------------------------------------------ fast paths, same floats
def test_one_entry_per_row_fast_paths_match_the_general_code(monkeypatch):
    config = RouterConfig.model_validate(CONFIG.model_dump() | {"regions": ()})
    plain = [
        {"language": lang, "theme": theme} for lang in ("en", "ja", "sw") for theme in (GK, RK)
    ]
    routers = {
        name: (LanguageRouter(config), ThompsonRouter(config)) for name in ("fast", "general")
    }
    results = {}
    for name, pair in routers.items():
        with monkeypatch.context() as patch:
            if name == "general":
                patch.setattr(RowWeights, "one_per_row", property(lambda self: False))
            plans = []
            for step in range(4):
                for router in pair:
                    plan = router.route(plain * 2)
                    router.record(plan, rewards_for(plan, step))
                    plans.append(plan.arms)
            results[name] = (plans, [router.state_dict() for router in pair])
    for fast, general in zip(results["fast"][0], results["general"][0], strict=True):
        np.testing.assert_array_equal(fast, general)
    assert results["fast"][1] == results["general"][1]


def test_rows_with_one_entry_each_are_recognised():
    def weights(rows, num_rows):
        rows = np.asarray(rows, dtype=np.int64)
        return RowWeights(rows, np.zeros_like(rows), np.ones(len(rows)), (num_rows, 1))

    assert weights([0, 1, 2], 3).one_per_row
    assert not weights([0, 0, 2], 3).one_per_row
    assert not weights([0, 1], 3).one_per_row


@pytest.mark.parametrize("depth", [1, 3])
def test_few_draws_in_python_ints_equal_the_vectorised_draws(monkeypatch, depth):
    rng = np.random.default_rng(0)
    for _ in range(50):
        keys = rng.integers(0, 2**64 - 1, size=int(rng.integers(0, 6)), dtype=np.uint64)
        args = (int(rng.integers(-(2**62), 2**62)), int(rng.integers(0, 10**6)), keys, 4, 2, depth)
        monkeypatch.setattr(draws, "_FEW_DRAWS", 10**9)
        few = draws.uniforms(*args)
        monkeypatch.setattr(draws, "_FEW_DRAWS", -1)
        vectorised = draws.uniforms(*args)
        assert few.shape == vectorised.shape and few.dtype == vectorised.dtype
        assert few.tobytes() == vectorised.tobytes()
