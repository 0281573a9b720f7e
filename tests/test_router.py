"""LanguageRouter: formulas against hand-computed values, properties, determinism, state."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo import (
    LanguageRouter,
    MonolingualRouter,
    RouterConfig,
    RoutingContext,
    RoutingPlan,
    Schedule,
    ThompsonRouter,
    make_router,
)
from lrpo.router import REFERENCE_THEMES

GK, RK = "General Knowledge", "Regional Knowledge"


def make_plan(contexts, arms, step=0):
    """A plan with chosen arms, so that updates can be checked by hand."""
    arms = np.asarray(arms)
    codes = np.array(["en", "de", "ja"], dtype=object)
    return RoutingPlan(
        contexts=tuple(RoutingContext.coerce(c) for c in contexts),
        languages=codes[arms],
        arms=arms,
        step=step,
        keys=np.arange(len(arms), dtype=np.uint64),
    )


def zscore(values):
    values = np.asarray(values, dtype=float)
    return (values - values.mean()) / (values.std() + 1e-6)


# --------------------------------------------------------------- probabilities
def test_softmax_and_effective_distribution_by_hand(small_config):
    config = RouterConfig.model_validate(
        small_config.model_dump()
        | {
            "prior_kind": "logits",
            "theme_priors": {GK: {"en": 1.0, "de": 0.0, "ja": -1.0}},
            "temperature": Schedule(kind="constant", start=0.5),
            "epsilon": Schedule(kind="constant", start=0.3),
        }
    )
    probs = LanguageRouter(config).probabilities({"language": "de", "theme": GK})
    expected = np.exp(np.array([1.0, 0.0, -1.0]) / 0.5)
    expected /= expected.sum()
    np.testing.assert_allclose(probs.softmax, expected)
    np.testing.assert_allclose(probs.effective, 0.7 * expected + 0.3 / 3)
    assert probs.as_dict()["en"] == pytest.approx(0.7 * expected[0] + 0.1)


def test_weight_priors_are_log_weights_with_the_reference_floor(small_config):
    config = RouterConfig.model_validate(
        small_config.model_dump() | {"theme_priors": {GK: {"en": 2.0, "de": 1.0}}}
    )
    probs = LanguageRouter(config).probabilities({"language": "de", "theme": GK})
    weights = np.array([2.0, 1.0, 1e-6])  # unlisted "ja" gets weight 1e-6
    np.testing.assert_allclose(probs.softmax, weights / weights.sum())


def test_region_rows_add_only_for_regional_themes_unless_scope_is_all(small_config):
    priors = {
        "theme_priors": {GK: {"en": 1.0}, RK: {"de": 1.0}},
        "region_priors": {"Japan": {"ja": 2.0}},
        "prior_kind": "logits",
    }
    regional = {"language": "ja", "theme": RK, "region": "Japan"}
    general = {"language": "ja", "theme": GK, "region": "Japan"}
    reference = LanguageRouter(RouterConfig.model_validate(small_config.model_dump() | priors))
    every_region = LanguageRouter(
        RouterConfig.model_validate(small_config.model_dump() | {**priors, "region_scope": "all"})
    )

    def logits(router, context):
        return np.log(router.probabilities(context).softmax)

    def centred(z):
        return np.asarray(z) - np.mean(z)

    np.testing.assert_allclose(centred(logits(reference, regional)), centred([0, 1, 2]))
    np.testing.assert_allclose(centred(logits(reference, general)), centred([1, 0, 0]))
    np.testing.assert_allclose(centred(logits(every_region, general)), centred([1, 0, 2]))


def test_several_themes_and_regions_sum_their_rows(small_config):
    config = RouterConfig.model_validate(
        small_config.model_dump()
        | {
            "prior_kind": "logits",
            "theme_priors": {GK: {"en": 1.0}, RK: {"de": 0.5}},
            "region_priors": {"A": {"ja": 1.0}, "B": {"ja": 0.25, "en": -1.0}},
        }
    )
    context = {"language": "ja", "themes": [GK, RK], "regions": ["A", "B"]}
    softmax = LanguageRouter(config).probabilities(context).softmax
    z = np.array([1.0 - 1.0, 0.5, 1.25])
    np.testing.assert_allclose(softmax, np.exp(z) / np.exp(z).sum())


def test_schedules_anneal_epsilon_independently_of_temperature():
    """The reference froze eps once tau sat at its floor; here eps follows its own schedule."""
    config = RouterConfig(
        temperature=Schedule(kind="exponential", start=0.3, end=0.3),
        epsilon=Schedule(kind="exponential", start=0.2, end=0.0, decay=0.995),
    )
    router = LanguageRouter(config)
    probs = router.probabilities({"language": "ja", "theme": GK}, step=200)
    assert probs.temperature == 0.3
    assert probs.epsilon == pytest.approx(0.2 * 0.995**200)


@settings(max_examples=50, deadline=None)
@given(
    logits=st.lists(st.floats(-20, 20), min_size=3, max_size=3),
    tau=st.floats(0.05, 5),
    eps=st.floats(0, 1),
)
def test_distributions_are_probabilities(logits, tau, eps):
    config = RouterConfig(
        languages=("en", "de", "ja"),
        prior_kind="logits",
        theme_priors={GK: dict(zip(("en", "de", "ja"), logits, strict=True))},
        temperature=Schedule(kind="constant", start=tau),
        epsilon=Schedule(kind="constant", start=eps),
    )
    probs = LanguageRouter(config).probabilities({"language": "en", "theme": GK})
    for distribution in (probs.softmax, probs.effective):
        assert distribution.sum() == pytest.approx(1.0)
        assert (distribution >= 0).all()
    assert (probs.effective >= eps / 3 - 1e-12).all()


# --------------------------------------------------------------------- plans
contexts_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "language": st.sampled_from(["ar", "de", "ja", "zh", "sw"]),
            "theme": st.sampled_from([*REFERENCE_THEMES, "Unseen theme"]),
            "region": st.sampled_from([None, "Japan", "Arab World", "Kenya"]),
        }
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(contexts=contexts_strategy, k_on=st.integers(0, 4), seed=st.integers(0, 2**32))
def test_plans_keep_k_on_home_and_never_route_translation(contexts, k_on, seed):
    router = LanguageRouter(RouterConfig(num_rollouts=4, num_on_policy=k_on, seed=seed))
    plan = router.route(contexts)
    homes = np.array([c["language"] for c in contexts], dtype=object)
    assert plan.languages.shape == (len(contexts), 4)
    assert (plan.languages[:, :k_on] == homes[:, None]).all()
    translation = np.array([c["theme"] == "Translation" for c in contexts])
    assert (plan.languages[translation] == homes[translation, None]).all()
    routed = plan.languages[:, k_on:][~translation]
    assert set(routed.ravel()) <= set(router.languages)
    on_arm = plan.arms >= 0
    assert (
        np.array(router.languages, dtype=object)[plan.arms[on_arm]] == plan.languages[on_arm]
    ).all()


def test_draws_follow_the_effective_distribution():
    config = RouterConfig(
        languages=("en", "de", "ja"),
        num_rollouts=8,
        num_on_policy=0,
        prior_kind="logits",
        theme_priors={GK: {"en": 1.0, "de": 0.0, "ja": -0.5}},
    )
    router = LanguageRouter(config)
    plan = router.route([{"language": "de", "theme": GK}] * 5000)
    counts = np.bincount(plan.arms.ravel(), minlength=3)
    expected = router.probabilities({"language": "de", "theme": GK}).effective * plan.arms.size
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 13.8  # p = 0.001 with 2 degrees of freedom


def test_routing_is_a_pure_function_of_seed_step_and_keys():
    contexts = [{"language": "ja", "theme": RK, "region": "Japan"}] * 6
    router = LanguageRouter(RouterConfig(seed=3))
    plan = router.route(contexts, step=7)
    again = LanguageRouter(RouterConfig(seed=3)).route(contexts, step=7)
    np.testing.assert_array_equal(plan.arms, again.arms)
    assert router.step == 0  # routing changed nothing
    other_step = router.route(contexts, step=8)
    other_seed = LanguageRouter(RouterConfig(seed=4)).route(contexts, step=7)
    assert not np.array_equal(plan.arms, other_step.arms)
    assert not np.array_equal(plan.arms, other_seed.arms)


def test_ranks_routing_their_slices_agree_with_one_process():
    """Data-parallel ranks route their own prompts by global key and get the global plan."""
    contexts = [{"language": lang, "theme": GK} for lang in ["ar", "de", "ja", "zh"] * 4]
    router = LanguageRouter(RouterConfig(seed=11))
    whole = router.route(contexts, step=5)
    halves = [
        router.route(contexts[:7], step=5, keys=range(7)),
        router.route(contexts[7:], step=5, keys=range(7, 16)),
    ]
    np.testing.assert_array_equal(RoutingPlan.concat(halves).arms, whole.arms)
    by_id = router.route(contexts[:2], step=5, keys=["prompt-a", "prompt-b"])
    again = router.route(contexts[:2], step=5, keys=["prompt-a", "prompt-b"])
    np.testing.assert_array_equal(by_id.arms, again.arms)


# ------------------------------------------------------------------- updates
@pytest.mark.parametrize("group_norm", ["zscore", "center", "none"])
def test_ema_update_by_hand(small_config, group_norm):
    router = LanguageRouter(
        RouterConfig.model_validate(small_config.model_dump() | {"group_norm": group_norm})
    )
    plan = make_plan([{"language": "en", "theme": GK}], [[0, 1, 1, 2]])
    assert router.record(plan, [[1.0, 0.5, 0.7, 0.0]])  # M = 1: updates at once
    bucket_means = np.array([1.0, 0.6, 0.0])
    normalised = {
        "zscore": zscore(bucket_means),
        "center": bucket_means - bucket_means.mean(),
        "none": bucket_means,
    }[group_norm]
    names, logits = router.theme_table()
    np.testing.assert_allclose(logits[names.index(GK)], 0.1 * normalised, atol=1e-9)
    np.testing.assert_array_equal(logits[names.index(RK)], 0.0)


def test_update_runs_every_m_steps_and_only_seen_languages_move():
    config = RouterConfig(
        languages=("en", "de", "ja"),
        num_rollouts=2,
        num_on_policy=0,
        update_period=3,
        group_norm="center",
        ema_alpha=0.5,
    )
    router = LanguageRouter(config)

    def plan():
        return make_plan([{"language": "en", "theme": GK}], [[0, 1]])

    assert not router.record(plan(), [[1.0, 0.0]])
    assert not router.record(plan(), [[1.0, 0.0]])
    np.testing.assert_array_equal(router.theme_table()[1], 0.0)
    assert router.record(plan(), [[0.4, 0.0]])
    gk = router.theme_table()[1][0]
    np.testing.assert_allclose(gk, 0.5 * np.array([0.4, -0.4, 0.0]))  # ja unseen: untouched
    assert router.num_updates == 1


def test_update_does_not_depend_on_bucket_order(small_config):
    """The reference EMA-updated a theme once per region bucket; the fix is order-free."""
    contexts = [
        {"language": "en", "theme": GK, "region": "Japan"},
        {"language": "en", "theme": GK, "region": "Kenya"},
        {"language": "en", "theme": GK},
    ]
    arms = [[0, 1, 2, 2], [0, 0, 1, 2], [0, 1, 1, 1]]
    rewards = np.array([[0.9, 0.1, 0.3, 0.5], [0.2, 0.4, 0.8, 0.1], [0.5, 0.6, 0.0, 0.3]])
    tables = []
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        router = LanguageRouter(small_config)
        plan = make_plan([contexts[i] for i in order], [arms[i] for i in order])
        router.record(plan, rewards[order])
        tables.append(router.theme_table()[1])
    np.testing.assert_allclose(tables[0], tables[1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(tables[0], tables[2], rtol=0, atol=1e-15)
    # Each region bucket is z-scored over its languages, then weighted by its rollout counts.
    japan = zscore([0.9, 0.1, np.mean([0.3, 0.5])])
    kenya = zscore([np.mean([0.2, 0.4]), 0.8, 0.1])
    none = zscore([0.5, np.mean([0.6, 0.0, 0.3])])  # ja unseen: normalised over en, de
    counts = np.array([[1, 1, 2], [2, 1, 1], [1, 3, 0]])
    values = np.array([japan, kenya, [*none, 0.0]])
    expected = 0.1 * (values * counts).sum(axis=0) / counts.sum(axis=0)
    np.testing.assert_allclose(tables[0][0], expected, atol=1e-9)


def test_region_rows_learn_from_regional_buckets_only(small_config):
    router = LanguageRouter(small_config)
    plan = make_plan(
        [
            {"language": "ja", "theme": RK, "region": "Japan"},
            {"language": "ja", "theme": GK, "region": "Korea"},
        ],
        [[2, 2, 0, 1], [2, 2, 0, 1]],
    )
    router.record(plan, [[1.0, 1.0, 0.0, 0.5], [1.0, 1.0, 0.0, 0.5]])
    names, regions = router.region_table()
    np.testing.assert_allclose(regions[names.index("Japan")], 0.1 * zscore([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(regions[names.index("Korea")], 0.0)


def test_learned_router_prefers_the_rewarded_language():
    config = RouterConfig(
        languages=("en", "de", "ja"), num_rollouts=8, num_on_policy=2, update_period=2, seed=0
    )
    router = LanguageRouter(config)
    contexts = [{"language": "de", "theme": "Reasoning / Logic"}] * 32
    quality = np.array([0.2, 0.5, 0.9])  # ja is best
    for _ in range(60):
        plan = router.route(contexts)
        router.record(plan, quality[plan.arms])
    probs = router.probabilities(contexts[0]).softmax
    assert probs.argmax() == 2 and probs[2] > 0.6


# ----------------------------------------------------- cold start and counters
def test_unseen_theme_and_region_cold_start_from_prior(small_config):
    router = LanguageRouter(small_config)
    context = {"language": "de", "theme": "Cooking", "region": "Peru"}
    plan = router.route([context])  # routing an unseen theme neither crashes nor adds rows
    assert "Cooking" not in router.theme_table()[0]
    router.record(plan, np.ones((1, 4)))
    assert "Cooking" in router.theme_table()[0] and "Peru" in router.region_table()[0]
    metrics = router.metric_sums().metrics()
    assert metrics["router/cold_start_themes"] == 1
    assert metrics["router/cold_start_regions"] == 1


def test_cold_start_mean_uses_the_mean_of_known_rows(small_config):
    config = RouterConfig.model_validate(
        small_config.model_dump()
        | {
            "cold_start": "mean",
            "prior_kind": "logits",
            "theme_priors": {GK: {"en": 3.0}, RK: {"de": 3.0}},
        }
    )
    router = LanguageRouter(config)
    probs = router.probabilities({"language": "de", "theme": "Cooking"})
    known = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 0]])  # GK, RK, Translation
    z = known.mean(axis=0)
    np.testing.assert_allclose(probs.softmax, np.exp(z) / np.exp(z).sum())


def test_nonfinite_rewards_and_off_arm_rollouts_are_counted_and_left_out(small_config):
    router = LanguageRouter(small_config)
    plan = make_plan([{"language": "en", "theme": GK}], [[0, 1, 1, 2]])
    router.record(plan, [[1.0, np.nan, 0.7, np.inf]])
    gk = router.theme_table()[1][0]
    np.testing.assert_allclose(gk, 0.1 * np.array([1.0, -1.0, 0.0]) * 0.15 / (0.15 + 1e-6))
    assert router.metric_sums().values["nonfinite_rewards"] == 2
    swahili = router.route([{"language": "sw", "theme": GK}])  # sw is not an arm
    router.record(swahili, np.ones((1, 4)))
    assert router.metric_sums().values["off_arm_rollouts"] == 1


def test_metric_sums_report_gauges_and_counters_and_reset_the_counters(small_config):
    router = LanguageRouter(small_config)
    plan = router.route([{"language": "sw", "theme": "Cooking"}] * 2)  # off-arm, cold start
    router.record(plan, np.full((2, 4), np.nan))
    sums = router.metric_sums(reset=True)
    assert sums.metrics() == {
        "router/step": 1.0,
        "router/updates": 1.0,
        "router/epsilon": small_config.epsilon.value(1),
        "router/temperature": small_config.temperature.value(1),
        "router/theme_rows": 4.0,
        "router/region_rows": 0.0,
        "router/cold_start_themes": 1.0,
        "router/cold_start_regions": 0.0,
        "router/nonfinite_rewards": 8.0,
        "router/off_arm_rollouts": 0.0,
        "router/ignored_regions": 0.0,
    }
    after = router.metric_sums().metrics()
    assert after["router/nonfinite_rewards"] == 0.0 and after["router/cold_start_themes"] == 0.0
    assert after["router/step"] == 1.0 and after["router/theme_rows"] == 4.0


# --------------------------------------------------------------------- state
def test_state_round_trip_routes_and_learns_identically(tmp_path):
    config = RouterConfig(update_period=3, seed=5)
    contexts = [
        {"language": lang, "theme": theme, "region": region}
        for lang, theme, region in [
            ("ja", RK, "Japan"),
            ("ar", GK, None),
            ("zh", "New theme", "China"),
        ]
    ]
    rewards = np.random.default_rng(0).random((10, 3, 8))
    original = LanguageRouter(config)
    for step in range(4):  # stop mid-window: the buffer must travel too
        original.record(original.route(contexts), rewards[step])
    path = tmp_path / "router.json"
    path.write_text(json.dumps(original.state_dict()))
    resumed = LanguageRouter(config)
    resumed.load_state_dict(json.loads(path.read_text()))
    for step in range(4, 10):
        plan_a, plan_b = original.route(contexts), resumed.route(contexts)
        np.testing.assert_array_equal(plan_a.languages, plan_b.languages)
        original.record(plan_a, rewards[step])
        resumed.record(plan_b, rewards[step])
    assert original.state_dict() == resumed.state_dict()


# ---------------------------------------------------------- themes as embeddings
def test_embedded_theme_takes_the_row_of_its_nearest_anchor():
    config = RouterConfig(
        languages=("en", "de", "ja"),
        themes=(),
        theme_input="embeddings",
        theme_anchors={"math": (1.0, 0.0), "culture": (0.0, 1.0)},
        anchor_temperature=0.01,
        prior_kind="logits",
        theme_priors={"math": {"en": 2.0}, "culture": {"ja": 2.0}},
    )
    router = LanguageRouter(config)
    near_math = router.probabilities({"language": "de", "theme_embedding": (0.9, 0.1)})
    z = np.array([2.0, 0.0, 0.0])
    np.testing.assert_allclose(near_math.softmax, np.exp(z) / np.exp(z).sum(), atol=1e-6)
    plan = router.route([{"language": "de", "theme_embedding": (0.1, 0.9)}] * 4)
    router.record(plan, np.where(plan.languages == "ja", 1.0, 0.0))
    names, logits = router.theme_table()
    assert names == ["math", "culture"]
    assert logits[1, 2] > 2.0 - 1e-9  # culture row learned, math row nearly untouched
    np.testing.assert_allclose(logits[0], [2.0, 0.0, 0.0], atol=1e-3)


def test_routed_feedback_leaves_out_on_policy_rollouts_and_unrouted_prompts(small_config):
    config = RouterConfig.model_validate(small_config.model_dump() | {"feedback": "routed"})
    router = LanguageRouter(config)
    plan = make_plan(
        [{"language": "en", "theme": GK}, {"language": "en", "theme": "Translation"}],
        [[0, 1, 1, 2], [0, 0, 0, 0]],
    )
    router.record(plan, [[5.0, 0.5, 0.7, 0.0], [1.0, 1.0, 1.0, 1.0]])
    names, logits = router.theme_table()
    np.testing.assert_allclose(
        logits[names.index(GK)], 0.1 * np.array([0.0, 1.0, -1.0]) * 0.3 / (0.3 + 1e-6)
    )
    np.testing.assert_array_equal(logits[names.index("Translation")], 0.0)


def test_batch_distributions_match_one_prompt_at_a_time():
    router = LanguageRouter(RouterConfig(seed=2))
    contexts = [
        {"language": "ja", "theme": RK, "region": "Japan"},
        {"language": "ar", "theme": GK},
        {"language": "ja", "theme": RK, "region": "Japan"},
    ]
    plan = router.route(contexts * 4)
    router.record(plan, np.random.default_rng(0).random(plan.arms.shape))
    softmax, effective = router.distributions(contexts)
    for row, context in enumerate(contexts):
        one = router.probabilities(context)
        np.testing.assert_allclose(softmax[row], one.softmax)
        np.testing.assert_allclose(effective[row], one.effective)


# ------------------------------------------------------------------- plans
CONTEXTS = [  # cold starts, an unrouted theme, several themes, a non-arm language, repeats
    {"language": "ja", "theme": RK, "region": "Japan"},
    {"language": "de", "theme": "Cooking"},
    {"language": "en", "theme": "Translation"},
    {"language": "sw", "theme": GK, "region": "Kenya"},
    {"language": "de", "themes": [GK, "Law"]},
    {"language": "ja", "theme": RK, "region": "Japan"},
]
PLAN_CONFIG = RouterConfig(
    languages=("en", "de", "ja"),
    themes=(GK, RK, "Translation"),
    regions=("Japan",),
    num_rollouts=4,
    num_on_policy=1,
    update_period=1,
    seed=7,
)


def rewards_for(plan: RoutingPlan, seed: int) -> np.ndarray:
    rewards = np.random.default_rng(seed).random(plan.arms.shape)
    rewards[0, -1] = np.nan
    return rewards


@pytest.mark.parametrize(
    "policy",
    [
        {"kind": "ema"},
        {"kind": "dominant", "language": "input", "weight": 0.6},
        {"kind": "fixed", "distribution": {"de": 2.0, "ja": 1.0}},
    ],
    ids=lambda policy: policy["kind"],
)
def test_plan_effective_is_the_distribution_each_prompt_was_drawn_from(policy):
    router = make_router(RouterConfig.model_validate(PLAN_CONFIG.model_dump() | {"policy": policy}))
    for step in range(4):
        plan = router.route(CONTEXTS, step=3 * step + 1)  # not the router's own step
        _, effective = router.distributions(CONTEXTS, step=plan.step)
        assert plan.effective.shape == (len(CONTEXTS), len(router.languages))
        np.testing.assert_array_equal(plan.effective, effective)
        router.record(plan, rewards_for(plan, step))


@pytest.mark.parametrize(
    ("make", "num_on_policy"),
    [(ThompsonRouter, 1), (MonolingualRouter, 1), (LanguageRouter, 4)],
    ids=["thompson", "monolingual", "nothing-routed"],
)
def test_plan_effective_is_none_without_a_drawn_distribution(make, num_on_policy):
    config = PLAN_CONFIG.model_copy(update={"num_on_policy": num_on_policy})
    assert make(config).route(CONTEXTS).effective is None


def test_concat_joins_effective_only_when_every_plan_has_it():
    router = LanguageRouter(PLAN_CONFIG)
    halves = [
        router.route(CONTEXTS[:2], keys=[0, 1]),
        router.route(CONTEXTS[2:], keys=[2, 3, 4, 5]),
    ]
    joined = RoutingPlan.concat(halves)
    np.testing.assert_array_equal(joined.effective, router.route(CONTEXTS).effective)
    no_effective = dataclasses.replace(halves[1], effective=None)
    assert RoutingPlan.concat([halves[0], no_effective]).effective is None


def test_an_empty_batch_routes_to_an_empty_plan():
    for make in (LanguageRouter, ThompsonRouter, MonolingualRouter):
        router = make(PLAN_CONFIG)
        plan = router.route([])
        assert plan.arms.shape == plan.languages.shape == (0, 4)
        router.record(plan, np.zeros((0, 4)))
    assert LanguageRouter(PLAN_CONFIG).route([]).effective.shape == (0, 3)


def test_a_joined_or_unpickled_plan_records_as_the_whole_routed_plan():
    router, twin, third = (LanguageRouter(PLAN_CONFIG) for _ in range(3))
    halves = [
        router.route(CONTEXTS[:3], keys=[0, 1, 2]),
        router.route(CONTEXTS[3:], keys=[3, 4, 5]),
    ]
    joined, whole = RoutingPlan.concat(halves), twin.route(CONTEXTS)
    restored = pickle.loads(pickle.dumps(whole))
    np.testing.assert_array_equal(joined.arms, whole.arms)
    np.testing.assert_array_equal(restored.effective, whole.effective)
    router.record(joined, rewards_for(joined, 0))
    twin.record(whole, rewards_for(whole, 0))
    third.record(restored, rewards_for(restored, 0))
    assert router.state_dict() == twin.state_dict() == third.state_dict()
    assert router.metric_sums().values["cold_start_themes"] == 2  # Cooking, Law
    assert router.metric_sums().values["cold_start_regions"] == 1  # Kenya


def test_plans_recorded_out_of_order_learn_as_their_contexts_say():
    """A plan routed before rows were added is recorded against the rows as they are then."""
    router, twin = LanguageRouter(PLAN_CONFIG), LanguageRouter(PLAN_CONFIG)
    first = router.route(CONTEXTS[:2], step=0)  # Cooking is unseen for both plans
    second = router.route([CONTEXTS[1], CONTEXTS[4]], step=0)
    router.record(second, rewards_for(second, 1))  # adds Cooking and Law rows
    router.record(first, rewards_for(first, 2))
    twin.record(twin.route([CONTEXTS[1], CONTEXTS[4]], step=0), rewards_for(second, 1))
    twin.record(twin.route(CONTEXTS[:2], step=0), rewards_for(first, 2))
    assert router.state_dict() == twin.state_dict()
    assert router.theme_table()[0] == [GK, RK, "Translation", "Cooking", "Law"]
