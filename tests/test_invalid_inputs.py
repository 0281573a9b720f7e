"""Every bad router input: a clear error naming the field, or counted as documented."""

from __future__ import annotations

import dataclasses
import json
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lrpo import (
    DominantLanguageRouter,
    FixedDistributionRouter,
    LanguageRouter,
    RouterConfig,
    RoutingContext,
    RoutingPlan,
    Schedule,
    ThompsonRouter,
    make_router,
)
from lrpo.router import ThompsonPolicy
from lrpo.router.config import MAX_ABS_VALUE


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"num_rollouts": 4, "num_on_policy": 5}, "num_on_policy"),
        ({"num_rollouts": 1, "num_on_policy": 0}, "num_rollouts"),
        ({"num_on_policy": -1}, "num_on_policy"),
        ({"languages": []}, "languages"),
        ({"languages": ["en", "de", "en"]}, "en"),
        ({"languages": ["en", "xx"]}, "xx"),
        ({"ema_alpha": 0.0}, "ema_alpha"),
        ({"ema_alpha": 1.5}, "ema_alpha"),
        ({"update_period": 0}, "update_period"),
        ({"temperature": Schedule(kind="exponential", start=1.0, end=0.0)}, "temperature"),
        ({"temperature": Schedule(kind="linear", start=1.0, end=-0.5)}, "temperature"),
        ({"epsilon": Schedule(kind="constant", start=1.2)}, "epsilon"),
        ({"epsilon": Schedule(kind="linear", start=0.2, end=-0.1)}, "epsilon"),
        ({"theme_priors": {"General Knowledge": {"xx": 1.0}}}, "xx"),
        ({"region_priors": {"Japan": {"sw": 1.0}}}, "sw"),
        ({"theme_priors": {"General Knowledge": {"en": -1.0}}}, ">= 0"),
        ({"theme_priors": {"General Knowledge": {"en": float("nan")}}}, "finite"),
        ({"themes": ["A", "A"]}, "duplicated"),
        ({"group_norm": "minmax"}, "group_norm"),
        ({"theme_input": "embeddings"}, "theme_anchors"),
        (
            {"theme_input": "embeddings", "theme_anchors": {"a": (1.0,), "b": (1.0, 0.0)}},
            "dimension",
        ),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_config_is_refused_at_construction(fields, message):
    with pytest.raises(ValidationError, match=message):
        RouterConfig(**fields)


def test_exponential_schedule_cannot_rise():
    with pytest.raises(ValidationError, match="linear"):
        Schedule(kind="exponential", start=0.1, end=0.5)


@pytest.fixture
def router() -> LanguageRouter:
    return LanguageRouter(RouterConfig(languages=("en", "de"), num_rollouts=2, num_on_policy=1))


def test_rewards_must_match_the_plan(router):
    plan = router.route([{"language": "en", "theme": "General Knowledge"}] * 3)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(3, 2\)"):
        router.record(plan, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        router.record(plan, np.zeros(6))


def test_nonfinite_rewards_are_counted_not_learned(router):
    plan = router.route([{"language": "en", "theme": "General Knowledge"}])
    router.record(plan, [[np.nan, -np.inf]])
    assert router.metric_sums().values["nonfinite_rewards"] == 2


def test_state_of_another_config_router_or_version_is_refused(router):
    state = router.state_dict()
    other = LanguageRouter(RouterConfig(languages=("en", "de"), num_rollouts=2, num_on_policy=0))
    with pytest.raises(ValueError, match=r"fields differ: \['num_on_policy'\]"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match=r"saved by a 'ema' router.*make_router"):
        ThompsonRouter(router.config).load_state_dict(state)
    with pytest.raises(ValueError, match="format"):
        router.load_state_dict({**state, "format_version": 99})
    english = make_router(with_policy(router.config, kind="dominant", language="en"))
    german = make_router(with_policy(router.config, kind="dominant", language="de"))
    with pytest.raises(ValueError, match=r"fields differ: \['policy'\]"):
        german.load_state_dict(english.state_dict())


def test_a_state_of_the_previous_format_is_refused_with_the_fix(router):
    state = router.state_dict()
    old = {**state, "format_version": 1, "router": "LanguageRouter", "params": {}}
    with pytest.raises(ValueError, match=r"format_version 1 .* start the router afresh"):
        router.load_state_dict(old)


def test_bad_contexts_and_keys(router):
    with pytest.raises(ValueError, match="language"):
        router.route([{"theme": "General Knowledge"}])
    with pytest.raises(TypeError, match="mapping"):
        router.route(["en"])
    with pytest.raises(ValueError, match="2 routing keys for 3 prompts"):
        router.route([{"language": "en"}] * 3, keys=[0, 1])
    with pytest.raises(TypeError, match="int or str"):
        router.route([{"language": "en"}], keys=[1.5])


def with_policy(config: RouterConfig, **policy) -> RouterConfig:
    return RouterConfig.model_validate(config.model_dump() | {"policy": policy})


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"kind": "dominant", "language": "ja"}, "policy.language 'ja' is not an arm"),
        ({"kind": "dominant", "weight": 1.5}, "weight"),
        ({"kind": "fixed", "distribution": {"ja": 1.0}}, r"not arms: \['ja'\]"),
        ({"kind": "fixed", "distribution": {"en": 0.0}}, "not all zero"),
        ({"kind": "fixed"}, "distribution"),
        ({"kind": "thompson", "prior_strength": 0.0}, "prior_strength"),
        ({"kind": "thompson", "noise_scale": float("inf")}, "noise_scale"),
        ({"kind": "thompson", "discount": 0.0}, "discount"),
        ({"kind": "thompson", "discount": 0.9, "typo": 1}, "typo"),
        ({"kind": "lrpo"}, "'ema', 'thompson', 'dominant', 'fixed', 'uniform', 'monolingual'"),
    ],
)
def test_bad_policy_settings_fail_at_config_time(policy, message):
    with pytest.raises(ValidationError, match=message):
        RouterConfig(languages=("en", "de"), policy=policy)


def test_a_router_class_and_a_config_of_another_policy():
    thompson = RouterConfig(policy={"kind": "thompson", "discount": 0.5})
    with pytest.raises(ValueError, match=r"LanguageRouter routes policy kind 'ema'.*make_router"):
        LanguageRouter(thompson)
    with pytest.raises(ValueError, match="FixedDistributionRouter has no default settings"):
        FixedDistributionRouter(RouterConfig())
    default = ThompsonRouter(RouterConfig())  # the default policy: the class's default
    assert default.policy == ThompsonPolicy() and default.config.policy == ThompsonPolicy()
    assert DominantLanguageRouter(RouterConfig()).policy.language == "input"


def test_embedding_of_the_wrong_dimension():
    config = RouterConfig(
        languages=("en", "de"), theme_input="embeddings", theme_anchors={"a": (1.0, 0.0)}
    )
    with pytest.raises(ValueError, match="2 dimensions"):
        LanguageRouter(config).route([{"language": "en", "theme_embedding": (1.0, 0.0, 0.0)}])


# ------------------------------------------------------------ plans and rewards
CONTEXT = {"language": "ja", "theme": "General Knowledge"}


def learning_router(**fields) -> LanguageRouter:
    config = {
        "languages": ("en", "de", "ja"),
        "num_rollouts": 4,
        "num_on_policy": 1,
        "update_period": 1,
        "group_norm": "none",
        "ema_alpha": 1.0,
        **fields,
    }
    return LanguageRouter(RouterConfig(**config))


def test_a_plan_is_recorded_once():
    router = learning_router(update_period=5)
    plan = router.route([CONTEXT])
    router.record(plan, np.ones((1, 4)))
    state = router.state_dict()
    with pytest.raises(ValueError, match="recorded already, at router step 0"):
        router.record(plan, np.ones((1, 4)))
    assert router.state_dict() == state and router.step == 1
    # A loaded state starts another history (a benchmark rewinds and records again).
    router.load_state_dict(LanguageRouter(router.config).state_dict())
    router.record(plan, np.ones((1, 4)))
    assert router.step == 1


def test_a_plan_is_recorded_only_by_the_router_that_routed_it():
    router = learning_router()
    other = learning_router(languages=("en", "ja", "de"))  # the same arms in another order
    plan = other.route([CONTEXT])
    state = router.state_dict()
    with pytest.raises(ValueError, match="routed by another router"):
        router.record(plan, np.ones((1, 4)))
    # Without the stamp of its router (copied, unpickled, built by hand), a plan's arms must
    # still name this router's languages.
    for copy in (dataclasses.replace(plan), pickle.loads(pickle.dumps(plan))):
        with pytest.raises(ValueError, match=r"not this router's languages.*\['en', 'de', 'ja'\]"):
            router.record(copy, np.ones((1, 4)))
    assert router.state_dict() == state
    # The same plan, recorded by its own router: rewards for "ja" are learned as "ja".
    rewards = np.where(plan.languages == "ja", 1.0, 0.0)
    other.record(plan, rewards)
    logits = dict(zip(other.languages, other.theme_table()[1][0], strict=True))
    assert logits["ja"] == max(logits.values()) == 1.0


@pytest.mark.parametrize(
    "arms", [[[0, 1, 5, 0]], [[0.0, 1.0, 1.0, 0.0]], [[0, 1]], [[0, 1, 2, -2]]]
)
def test_a_hand_built_plan_must_hold_arm_ids_of_this_router(arms):
    router = learning_router()
    arms = np.asarray(arms)
    plan = RoutingPlan(
        contexts=(RoutingContext.coerce(CONTEXT),),
        languages=np.full((1, 4), "ja", dtype=object),
        arms=arms,
        step=0,
        keys=np.zeros(1, dtype=np.uint64),
    )
    with pytest.raises(ValueError, match=r"integer ids in -1\.\.2"):
        router.record(plan, np.ones((1, 4)))


@pytest.mark.parametrize(
    ("rewards", "message"),
    [
        ([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], r"rows of lengths \[2, 4\]"),
        ([["a", "b", "c", "d"]] * 2, "not numbers"),
    ],
)
def test_ragged_or_non_numeric_rewards_name_the_expected_shape(rewards, message):
    router = learning_router()
    plan = router.route([CONTEXT] * 2)
    with pytest.raises(ValueError, match=rf"B x K array of numbers, \(2, 4\).*{message}"):
        router.record(plan, rewards)
    router.record(plan, np.ones((2, 4)))  # nothing was used up: the plan records once, later


@settings(max_examples=60, deadline=None)
@given(
    rewards=st.lists(
        st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -1e308, 1e100]),
        min_size=8,
        max_size=8,
    ),
    group_norm=st.sampled_from(["zscore", "center", "none"]),
)
def test_no_reward_can_make_the_tables_or_the_saved_state_nonfinite(rewards, group_norm):
    for router in (
        learning_router(group_norm=group_norm),
        ThompsonRouter(learning_router().config),
    ):
        for _ in range(2):
            plan = router.route([CONTEXT, {"language": "de", "theme": "Law", "region": "Kenya"}])
            router.record(plan, np.reshape(rewards, (2, 4)))
        for field in router.row_fields:
            assert np.all(np.abs(router.theme_table(field)[1]) <= MAX_ABS_VALUE)
        json.dumps(router.state_dict(), allow_nan=False)  # no NaN written
        probs = router.probabilities(CONTEXT)
        assert np.isfinite(probs.effective).all() and probs.effective.sum() == pytest.approx(1.0)
    huge = sum(abs(r) > MAX_ABS_VALUE or not np.isfinite(r) for r in rewards)
    assert router.metric_sums().values["nonfinite_rewards"] == 2 * huge


def test_huge_prior_logits_are_refused_and_the_largest_allowed_sum_stays_finite():
    with pytest.raises(ValidationError, match=r"within ±1e\+100"):
        RouterConfig(prior_kind="logits", theme_priors={"General Knowledge": {"en": 1e308}})
    config = RouterConfig(
        prior_kind="logits",
        languages=("en", "de"),
        regions=("Japan",),
        theme_priors={"Regional Knowledge": {"en": 1e100}},
        region_priors={"Japan": {"en": 1e100}},
    )
    probs = LanguageRouter(config).probabilities(
        {"language": "de", "theme": "Regional Knowledge", "region": "Japan"}
    )
    assert np.isfinite(probs.softmax).all() and probs.softmax[0] == 1.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_theme_embeddings_are_refused(bad):
    config = RouterConfig(
        languages=("en", "de"),
        theme_input="embeddings",
        theme_anchors={"a": (1.0, 0.0), "b": (0.0, 1.0)},
    )
    router = LanguageRouter(config)
    with pytest.raises(ValueError, match="theme_embedding must be finite"):
        router.route(
            [
                {"language": "en", "theme_embedding": (1.0, 0.0)},
                {"language": "en", "theme_embedding": (bad, 1.0)},
            ]
        )
    with pytest.raises(ValueError, match="theme_embedding must be finite"):
        router.distributions([{"language": "en", "theme_embedding": (bad, 1.0)}])
    # Huge but finite embeddings keep their direction.
    softmax, _ = router.distributions([{"language": "en", "theme_embedding": (1e300, 0.0)}])
    assert softmax.shape == (1, 2) and np.isfinite(softmax).all()


# --------------------------------------------------------------------- contexts
@pytest.mark.parametrize(
    ("context", "error", "message"),
    [
        ({"language": "en", "theme": 5}, TypeError, r"'theme' must be a string or a list"),
        ({"language": "en", "themes": [["a", "b"]]}, TypeError, r"'themes' must hold strings"),
        ({"language": "en", "region": [["Japan"]]}, TypeError, r"'region' must hold strings"),
        ({"language": ["en", "de"]}, ValueError, "'language' code string"),
        ({"language": "en", "theme_embedding": [[1.0]]}, TypeError, "flat sequence of numbers"),
        (RoutingContext(["en", "de"]), TypeError, "'language' must be a code string"),
        (RoutingContext(("en",)), TypeError, "'language' must be a code string"),
        (RoutingContext("en", "General Knowledge"), TypeError, "'themes' must be a tuple"),
        (RoutingContext("en", (["a"],)), TypeError, "'themes' must be a tuple of strings"),
        (RoutingContext("en", (5,)), TypeError, "'themes' must be a tuple of strings"),
        (RoutingContext("en", (), [["Japan"]]), TypeError, "'regions' must be a tuple"),
    ],
)
def test_bad_context_fields_are_named(router, context, error, message):
    with pytest.raises(error, match=message):
        router.route([{"language": "en"}, context])


# ------------------------------------------------------------------------ regions
def test_regions_that_no_theme_adds_warn_at_config_time():
    with pytest.warns(UserWarning, match=r"regional_themes=\['Regional Knowledge'\].*'all'"):
        RouterConfig(themes=("Math", "History"), regions=("Japan", "Kenya"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RouterConfig(themes=("Math", "History"), regions=("Japan",), regional_themes=("History",))
        RouterConfig(themes=("Math",), regions=("Japan",), region_scope="all")
        RouterConfig(regions=("Japan",))  # the reference themes include Regional Knowledge


def test_regions_ignored_at_training_time_are_counted_and_warned_about():
    router = learning_router(themes=("Math",))
    plan = router.route([{"language": "ja", "theme": "Math", "region": "Japan"}] * 3)
    with pytest.warns(UserWarning, match="ignores every region"):
        router.record(plan, np.ones((3, 4)))
    assert router.metric_sums().metrics()["router/ignored_regions"] == 3.0
    assert router.region_table()[0] == ["Japan"]  # a row, never learned from
    np.testing.assert_array_equal(router.region_table()[1], 0.0)
    everywhere = learning_router(themes=("Math",), region_scope="all")
    everywhere.record(
        everywhere.route([{"language": "ja", "theme": "Math", "region": "Japan"}]),
        [[1.0, 0.0, 0.0, 1.0]],
    )
    assert everywhere.metric_sums().values["ignored_regions"] == 0
    assert np.abs(everywhere.region_table()[1]).sum() > 0


# ------------------------------------------------------------------------- state
def state_with_feedback(router_class=LanguageRouter):
    router = router_class(learning_router(update_period=3, regions=("Japan",)).config)
    for _ in range(4):  # one update, then a window of feedback kept in the buckets
        plan = router.route(
            [CONTEXT, {"language": "de", "theme": "Regional Knowledge", "region": "Japan"}]
        )
        router.record(plan, np.random.default_rng(0).random((2, 4)))
    return router, json.loads(json.dumps(router.state_dict()))


def _set(path, value):
    def change(state):
        *parents, last = path
        for key in parents:
            state = state[key]
        state[last] = value(state[last]) if callable(value) else value

    return change


# One tampering per line reads as a table, so the formatter leaves it as it is.
TAMPERED = {
    "format_version true": (_set(["format_version"], True), "format_version True is not 2"),
    "negative step": (_set(["step"], -3), "'step' must be an integer >= 0, got -3"),
    "float step": (_set(["step"], 2.0), "'step' must be an integer >= 0, got 2.0"),
    "bool updates": (_set(["num_updates"], True), "'num_updates' must be an integer"),
    "nan logit": (_set(["themes", "logits", 0, 1], np.nan), "'themes.logits' must hold finite"),
    "huge logit": (_set(["regions", "logits", 0, 0], 1e300), "'regions.logits' must hold finite"),
    "duplicated theme": (_set(["themes", "names", 1], "General Knowledge"), "duplicated"),
    "reordered rows": (_set(["themes", "names"], lambda names: names[::-1]), "must begin with"),
    "ragged logits": (_set(["themes", "logits", 0], [0.0]), "'themes.logits' must hold numbers"),
    "missing rows": (_set(["themes", "logits"], lambda rows: rows[:-1]), r"shape \(6, 3\)"),
    "negative weight": (_set(["buckets", "weight", 0], -1.0), "weight' must hold numbers >= 0"),
    "nan total": (_set(["buckets", "total", 0], np.nan), "'buckets.total' must hold finite"),
    "float index": (_set(["buckets", "index", 0], 0.5), "'buckets.index' must hold integers"),
    "index out of range": (_set(["buckets", "index", 0], 10**6), "distinct ids below"),
    "bucket shape": (_set(["buckets", "shape"], [99, 2, 3]), "'buckets.shape' must be"),
    "unknown counter": (_set(["counters", "typo"], 1), "'counters' must map some of"),
    "float counter": (_set(["counters", "off_arm_rollouts"], 0.5), "'counters.off_arm_rollouts'"),
    "no themes": (lambda state: state.pop("themes"), "'themes' is missing"),
    "themes not a mapping": (_set(["themes"], [1, 2]), "'themes' must be a mapping"),
}  # fmt: skip


@pytest.mark.parametrize("name", TAMPERED)
def test_a_tampered_state_is_refused_and_changes_nothing(name):
    tamper, message = TAMPERED[name]
    source, state = state_with_feedback()
    tamper(state)
    target = learning_router(update_period=3, regions=("Japan",))
    target.record(target.route([CONTEXT]), [[0.3, 0.1, 0.9, 0.5]])  # a state of its own
    before = target.state_dict()
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(state)
    assert target.state_dict() == before
    target.load_state_dict(source.state_dict())  # a good state still loads after a refusal
    assert target.state_dict() == source.state_dict()


def test_a_thompson_state_with_negative_counts_is_refused():
    router, state = state_with_feedback(ThompsonRouter)
    state["themes"]["count"][0][0] = -1.0
    with pytest.raises(ValueError, match=r"'themes\.count' must hold numbers >= 0"):
        ThompsonRouter(router.config).load_state_dict(state)


def test_a_state_saved_before_a_counter_existed_loads_with_it_at_zero():
    router, state = state_with_feedback()
    del state["counters"]["ignored_regions"]
    resumed = LanguageRouter(router.config)
    resumed.load_state_dict(state)
    assert resumed.metric_sums().values["ignored_regions"] == 0
