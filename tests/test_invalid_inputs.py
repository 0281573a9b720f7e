"""Every bad router input: a clear error naming the field, or counted as documented."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from lrpo import (
    DominantLanguageRouter,
    FixedDistributionRouter,
    LanguageRouter,
    RouterConfig,
    Schedule,
    ThompsonRouter,
)


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
    assert router.counters["nonfinite_rewards"] == 2


def test_state_of_another_config_router_or_version_is_refused(router):
    state = router.state_dict()
    other = LanguageRouter(RouterConfig(languages=("en", "de"), num_rollouts=2, num_on_policy=0))
    with pytest.raises(ValueError, match=r"fields differ: \['num_on_policy'\]"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="ThompsonRouter"):
        ThompsonRouter(router.config).load_state_dict(state)
    with pytest.raises(ValueError, match="format"):
        router.load_state_dict({**state, "format_version": 99})
    english = DominantLanguageRouter(router.config, language="en")
    with pytest.raises(ValueError, match="params"):
        DominantLanguageRouter(router.config, language="de").load_state_dict(english.state_dict())


def test_bad_contexts_and_keys(router):
    with pytest.raises(ValueError, match="language"):
        router.route([{"theme": "General Knowledge"}])
    with pytest.raises(TypeError, match="mapping"):
        router.route(["en"])
    with pytest.raises(ValueError, match="2 routing keys for 3 prompts"):
        router.route([{"language": "en"}] * 3, keys=[0, 1])
    with pytest.raises(TypeError, match="int or str"):
        router.route([{"language": "en"}], keys=[1.5])


def test_bad_policy_parameters():
    config = RouterConfig(languages=("en", "de"))
    with pytest.raises(ValueError, match="not an arm"):
        DominantLanguageRouter(config, language="ja")
    with pytest.raises(ValueError, match="weight"):
        DominantLanguageRouter(config, weight=1.5)
    with pytest.raises(ValueError, match="not arms"):
        FixedDistributionRouter(config, distribution={"ja": 1.0})
    with pytest.raises(ValueError, match="not all zero"):
        FixedDistributionRouter(config, distribution={"en": 0.0})
    with pytest.raises(ValueError, match="prior_strength"):
        ThompsonRouter(config, prior_strength=0.0)
    with pytest.raises(ValueError, match="discount"):
        ThompsonRouter(config, discount=0.0)


def test_embedding_of_the_wrong_dimension():
    config = RouterConfig(
        languages=("en", "de"), theme_input="embeddings", theme_anchors={"a": (1.0, 0.0)}
    )
    with pytest.raises(ValueError, match="2 dimensions"):
        LanguageRouter(config).route([{"language": "en", "theme_embedding": (1.0, 0.0, 0.0)}])
