"""Tests of lrpo.sim: scenarios, environment, metrics, runner, plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lrpo import FixedDistributionRouter, MonolingualRouter
from lrpo.sim import (
    ROUTERS,
    RoutingEnvironment,
    Scenario,
    build_router,
    default_scenario,
    fine_grained_scenario,
    format_table,
    router_config,
    simulate,
    step_metrics,
    summary_rows,
)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return default_scenario()


@pytest.fixture(scope="module")
def env(scenario: Scenario) -> RoutingEnvironment:
    return RoutingEnvironment(scenario, batch_size=64, seed=3)


# ------------------------------------------------------------------ scenarios
def test_default_scenario_shapes(scenario: Scenario) -> None:
    assert scenario.quality_array.shape == (6, 25, 15)
    assert len(scenario.prompt_languages) == 14
    assert "en" not in scenario.prompt_languages
    assert scenario.routed_themes.tolist() == [True] * 5 + [False]
    regional = scenario.themes.index("Regional Knowledge")
    best = scenario.quality_array[regional, scenario.regions.index("Japan")].argmax()
    assert scenario.languages[best] == "ja"
    reasoning = scenario.quality_array[scenario.themes.index("Reasoning / Logic"), -1]
    assert scenario.languages[reasoning.argmax()] == "en"


def test_scenarios_are_deterministic_and_seeded() -> None:
    assert default_scenario(0) == default_scenario(0)
    assert default_scenario(0) != default_scenario(1)
    assert fine_grained_scenario(0, num_themes=30) == fine_grained_scenario(0, num_themes=30)


def test_fine_grained_scenario_shapes() -> None:
    scenario = fine_grained_scenario(num_themes=40)
    assert scenario.quality_array.shape == (40, 1, 15)
    assert np.asarray(scenario.theme_embeddings).shape == (40, 32)
    assert np.allclose(np.linalg.norm(scenario.theme_embeddings, axis=1), 1.0)


def test_scenario_round_trips_through_json(scenario: Scenario) -> None:
    assert Scenario.model_validate_json(scenario.model_dump_json()) == scenario


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quality", [[[0.5]]], "quality has shape"),
        ("theme_weights", [0.5] * 6, "theme_weights must be non-negative and sum to 1"),
        ("prompt_languages", ["en", "xx"], "prompt_languages"),
        ("pair_bias", [[0.0]], "pair_bias has shape"),
    ],
)
def test_scenario_rejects_inconsistent_fields(
    scenario: Scenario, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Scenario(**{**scenario.model_dump(), field: value})


# ---------------------------------------------------------------- environment
def test_prompts_are_seeded_by_step(env: RoutingEnvironment, scenario: Scenario) -> None:
    first, again, other = env.prompts(5), env.prompts(5), env.prompts(6)
    assert np.array_equal(first.theme, again.theme) and np.array_equal(
        first.language, again.language
    )
    assert not np.array_equal(first.theme, other.theme)
    assert set(np.asarray(scenario.languages)[first.language]) <= set(scenario.prompt_languages)
    regional = first.theme == scenario.themes.index("Regional Knowledge")
    assert (first.region[regional] >= 0).all()


def test_contexts_carry_labels(env: RoutingEnvironment, scenario: Scenario) -> None:
    batch = env.prompts(0)
    contexts = env.contexts(batch)
    assert [c["theme"] for c in contexts] == [scenario.themes[t] for t in batch.theme]
    assert all(
        (c["region"] is None) == (r < 0) for c, r in zip(contexts, batch.region, strict=True)
    )


def test_calibrated_rewards_are_unbiased(scenario: Scenario) -> None:
    env = RoutingEnvironment(scenario, batch_size=4000, seed=0)
    batch = env.prompts(0)
    arms = np.random.default_rng(1).integers(15, size=(4000, 8))
    noise = env.rewards(batch, arms, step=0, condition="calibrated") - env.quality(batch, arms)
    assert abs(noise.mean()) < 4 * scenario.noise_std / np.sqrt(noise.size)
    assert noise.std() == pytest.approx(scenario.noise_std, rel=0.02)


def test_raw_rewards_add_bias_to_reference_language_only(env: RoutingEnvironment) -> None:
    batch = env.prompts(1)
    arms = np.random.default_rng(2).integers(15, size=(64, 8))
    arms[:, :2] = batch.language[:, None]
    gap = env.rewards(batch, arms, step=1, condition="raw") - env.rewards(
        batch, arms, step=1, condition="calibrated"
    )
    in_reference = arms == batch.language[:, None]
    assert np.allclose(gap[in_reference], env.scenario.reference_bias)
    assert np.allclose(gap[~in_reference], 0.0)


def test_pair_bias_adds_per_language_pair(scenario: Scenario) -> None:
    pair_bias = np.zeros((15, 15))
    pair_bias[scenario.languages.index("ja"), scenario.languages.index("en")] = -0.3
    biased = Scenario(**{**scenario.model_dump(), "pair_bias": pair_bias.tolist()})
    env = RoutingEnvironment(biased, batch_size=200, seed=0)
    batch = env.prompts(0)
    arms = np.full((200, 8), scenario.languages.index("en"))
    gap = env.rewards(batch, arms, step=0, condition="raw") - env.rewards(
        batch, arms, step=0, condition="calibrated"
    )
    from_ja = batch.language == scenario.languages.index("ja")
    assert from_ja.any()
    assert np.allclose(gap[from_ja], -0.3) and np.allclose(gap[~from_ja], 0.0)


def test_unknown_condition_is_rejected(env: RoutingEnvironment) -> None:
    with pytest.raises(ValueError, match="'raw' or 'calibrated'"):
        env.rewards(env.prompts(0), np.zeros((64, 8), dtype=int), step=0, condition="biased")


@settings(max_examples=25, deadline=None)
@given(step=st.integers(0, 10_000), seed=st.integers(0, 2**31))
def test_oracle_bounds_every_language(scenario: Scenario, step: int, seed: int) -> None:
    env = RoutingEnvironment(scenario, batch_size=16, seed=seed)
    batch = env.prompts(step)
    every = env.quality(batch, np.tile(np.arange(15), (16, 1)))
    assert np.allclose(env.oracle(batch), every.max(axis=1))


# -------------------------------------------------------------------- metrics
def test_monolingual_router_collapses_fully(env: RoutingEnvironment, scenario: Scenario) -> None:
    router = MonolingualRouter(router_config(scenario, seed=0))
    batch = env.prompts(0)
    plan = router.route(env.contexts(batch), step=0)
    metrics = step_metrics(env, batch, plan.arms, num_on_policy=2)
    assert metrics.collapse == 1.0
    assert metrics.regret >= 0.0
    assert metrics.shares.sum() == pytest.approx(1.0)


def test_fixed_distribution_collapse_matches_expectation(scenario: Scenario) -> None:
    env = RoutingEnvironment(scenario, batch_size=2000, seed=0)
    distribution = {"de": 0.5, "ja": 0.3, "en": 0.2}
    policy = {"kind": "fixed", "distribution": distribution}
    router = FixedDistributionRouter(router_config(scenario, seed=0, policy=policy))
    batch = env.prompts(0)
    plan = router.route(env.contexts(batch), step=0)
    metrics = step_metrics(env, batch, plan.arms, num_on_policy=2)
    prompt_codes = np.asarray(scenario.languages)[batch.language[batch.routed]]
    expected = np.mean([distribution.get(code, 0.0) for code in prompt_codes])
    assert metrics.collapse == pytest.approx(expected, abs=0.01)
    assert metrics.shares[scenario.languages.index("de")] == pytest.approx(0.5, abs=0.02)


def test_step_without_routed_prompts_has_no_regret(scenario: Scenario) -> None:
    env = RoutingEnvironment(scenario, batch_size=4, seed=0)
    batch = env.prompts(0)
    unrouted = type(batch)(batch.theme, batch.region, batch.language, np.zeros(4, dtype=bool))
    metrics = step_metrics(env, unrouted, np.zeros((4, 8), dtype=int), num_on_policy=2)
    assert metrics.regret == 0.0 and np.isnan(metrics.quality)


# --------------------------------------------------------------------- runner
@pytest.fixture(scope="module")
def small_run(scenario: Scenario) -> dict:
    return simulate(
        scenario,
        ["ema", "monolingual", "uniform"],
        steps=12,
        batch_size=16,
        seeds=(0, 1),
        progress=False,
    )


def test_simulate_results_are_plain_and_consistent(small_run: dict) -> None:
    json.dumps(small_run)
    run = small_run["runs"]["raw"]["ema"]
    assert len(run["curves"]["quality"]) == 12
    assert len(run["final"]["regret"]) == 2
    assert sum(run["shares"].values()) == pytest.approx(1.0)
    assert np.array(run["tables"]["theme_rows"]).shape == (6, 15)
    assert "tables" not in small_run["runs"]["raw"]["uniform"]


def test_regret_is_non_decreasing_and_oracle_bounds_quality(small_run: dict) -> None:
    for routers in small_run["runs"].values():
        for run in routers.values():
            assert np.all(np.diff(run["curves"]["regret"]) >= 0)
            assert run["final"]["collapse"][0] <= 1.0
    mono = small_run["runs"]["raw"]["monolingual"]["final"]
    assert mono["collapse"] == [1.0, 1.0]


def test_fixed_routers_do_not_depend_on_the_condition(small_run: dict) -> None:
    raw, calibrated = small_run["runs"]["raw"], small_run["runs"]["calibrated"]
    assert raw["uniform"]["curves"] == calibrated["uniform"]["curves"]


def test_simulate_is_deterministic(scenario: Scenario, small_run: dict) -> None:
    again = simulate(
        scenario,
        ["ema", "monolingual", "uniform"],
        steps=12,
        batch_size=16,
        seeds=(0, 1),
        progress=False,
    )
    assert again == small_run


def test_summary_table_lists_every_run(small_run: dict) -> None:
    rows = summary_rows(small_run)
    assert [(r["condition"], r["router"]) for r in rows][:2] == [
        ("raw", "ema"),
        ("raw", "monolingual"),
    ]
    table = format_table(rows)
    assert len(table.splitlines()) == 2 + 6 and "±" in table


def test_calibration_prevents_collapse_and_beats_fixed_routing(scenario: Scenario) -> None:
    """The paper's finding, for the tabular router: raw rewards inflate prompt languages."""
    results = simulate(
        scenario,
        ["ema", "monolingual", "input-dominant", "english-dominant"],
        steps=400,
        batch_size=128,
        progress=False,
    )
    final = {
        (condition, name): {metric: values[0] for metric, values in run["final"].items()}
        for condition, routers in results["runs"].items()
        for name, run in routers.items()
    }
    raw, calibrated = final["raw", "ema"], final["calibrated", "ema"]
    assert raw["collapse"] > calibrated["collapse"] + 0.02
    assert raw["quality"] < calibrated["quality"] - 0.005
    for baseline in ("monolingual", "input-dominant", "english-dominant"):
        assert calibrated["quality"] > final["calibrated", baseline]["quality"]
        assert calibrated["regret"] < final["calibrated", baseline]["regret"]
    english = results["runs"]
    assert english["raw"]["ema"]["shares"]["en"] < english["calibrated"]["ema"]["shares"]["en"]


def test_embedding_router_beats_label_router_on_fine_grained_themes() -> None:
    scenario = fine_grained_scenario()
    results = simulate(
        scenario,
        ["ema", "ema-embeddings"],
        steps=120,
        batch_size=192,
        conditions=("calibrated",),
        progress=False,
    )
    runs = results["runs"]["calibrated"]
    assert runs["ema-embeddings"]["final"]["quality"][0] > runs["ema"]["final"]["quality"][0] + 0.01
    assert runs["ema-embeddings"]["final"]["regret"][0] < runs["ema"]["final"]["regret"][0]


def test_build_router_rejects_bad_names(scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="unknown router 'best'"):
        build_router("best", scenario, seed=0)
    with pytest.raises(ValueError, match="needs theme embeddings"):
        build_router("ema-embeddings", scenario, seed=0)


def test_every_label_is_a_policy_built_by_make_router(scenario: Scenario) -> None:
    english = build_router("english-dominant", scenario, seed=3)
    assert type(english).__name__ == "DominantLanguageRouter"
    assert english.policy.language == "en" and english.config.seed == 3
    assert build_router("input-dominant", scenario, seed=0).policy.language == "input"
    for name in ("ema", "thompson", "monolingual", "uniform"):
        assert build_router(name, scenario, seed=0).policy.kind == ROUTERS[name].policy["kind"]
    fine = fine_grained_scenario()
    embedded = build_router("ema-embeddings", fine, seed=0)
    assert embedded.policy.kind == "ema" and embedded.config.theme_input == "embeddings"


def test_simulate_rejects_zero_steps(scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="steps must be >= 1"):
        simulate(scenario, ["uniform"], steps=0, progress=False)


# ---------------------------------------------------------------------- plots
def test_plots_are_written(small_run: dict, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from lrpo.sim.plots import save_plots

    paths = save_plots(small_run, tmp_path)
    assert [p.name for p in paths] == ["learning_curves.png", "tables_ema.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
