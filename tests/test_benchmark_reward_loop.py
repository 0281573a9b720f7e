"""Tests for benchmarks/reward_loop.py: the closed loop on real text, end to end, tiny."""

import json
import math

import numpy as np
import pytest
from conftest import load_benchmark

reward_loop = load_benchmark("reward_loop")
policy = load_benchmark("_loop_policy")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reward_loop")
    output = folder / "reward_loop.json"
    argv = ["--tiny", "--no-progress", "--english-share", "0.2", "--echo-share", "0.1"]
    results = reward_loop.main([*argv, "--cache", str(folder / "cache"), "--output", str(output)])
    return results, output


def test_tiny_run_writes_json_plot_and_cache(tiny):
    results, output = tiny
    saved = json.loads(output.read_text())
    assert set(saved["results"]) == set(results["results"]) >= {"routers", "conditions"}
    assert saved["settings"]["tiny"] is True and saved["settings"]["steps"] == 4
    assert set(saved) == {"settings", "environment", "results", "wall_s"}
    assert output.with_suffix(".png").stat().st_size > 0
    assert list(output.parent.joinpath("cache").glob("embeddings-*.npz"))
    result = saved["results"]
    assert result["languages"] == ["en", "de", "ja"] and result["items"] == 16
    assert result["timings"]["store_misses_in_loop"] == 0  # every text embedded up front


def test_conditions_cover_every_calibrator_and_setting(tiny):
    result = json.loads(tiny[1].read_text())["results"]
    calibrations = reward_loop.calibrator_names()
    assert calibrations[0] == "none" and {"mean", "quantile"} <= set(calibrations)
    conditions = result["conditions"]
    assert {"raw", "mean", "quantile", "raw+guards-off", "mean+threshold"} <= set(conditions)
    assert conditions["mean+threshold"] == {"calibration": "mean", "threshold": 0.9}
    assert {c["calibration"] for c in conditions.values()} == set(calibrations)
    assert set(result["routers"]) == {"ema", "thompson", "uniform"}
    for by_condition in result["routers"].values():
        assert set(by_condition) == set(conditions)


def test_oracle_rewards_exactly_the_correct_rollouts(tiny):
    """The ceiling condition feeds the router the truth: 1 for a correct rollout, else 0."""
    result = json.loads(tiny[1].read_text())["results"]
    for by_condition in result["routers"].values():
        oracle = by_condition["oracle"]
        assert oracle["auc"]["mean"] == 1.0
        assert oracle["reward_correct"]["mean"] == 1.0 and oracle["reward_wrong"]["mean"] == 0.0


def test_metrics_are_sane(tiny):
    result = json.loads(tiny[1].read_text())["results"]
    assert result["reference"]["oracle_quality"] >= result["reference"]["uniform_quality"]
    for by_condition in result["routers"].values():
        for condition, summary in by_condition.items():
            assert math.isfinite(summary["gap"]["mean"])
            assert 0.0 <= summary["collapse"]["mean"] <= 1.0
            assert 0.0 <= summary["auc"]["mean"] <= 1.0
            assert 0.0 <= summary["gate_pass"]["mean"] <= 1.0
            assert len(summary["curve_gap"]) == 4
            # the gate zeroes every rollout written in English when another language was asked
            assert summary["english_max_reward"]["mean"] == 0.0
            # a threshold zeroes some correct rollouts too: they tie with the English ones
            if result["conditions"][condition].get("threshold") is None:
                assert summary["auc_english"]["mean"] > 0.9


def test_world_draws_follow_the_quality_table():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((6, 3, 8))
    vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
    world = policy.make_world(
        ("en", "de", "ja"),
        np.array(["d"] * 6),
        vectors,
        num_themes=2,
        seed=1,
        english_share=0.1,
        echo_share=0.1,
    )
    assert (world.hard != np.arange(6)[:, None]).all()
    assert (world.prompt_item != np.arange(6)).all()
    batch = world.prompts(seed=0, step=0, size=4000)
    arms = np.full((4000, 1), 1)  # every rollout asked in German
    _, language, kind = world.rollouts(batch, arms, world.uniforms(0, 0, arms.shape))
    assert abs(np.mean(kind == policy.ECHO) - 0.1) < 0.02
    assert abs(np.mean(kind == policy.ENGLISH) - 0.09) < 0.02
    assert (language[kind == policy.ENGLISH] == 0).all()
    correct = np.mean(kind[:, 0] == policy.CORRECT)
    assert abs(correct - world.quality[batch.theme, 1].mean()) < 0.03


def test_conditions_name_settings_and_refuse_unknown_fields():
    args = reward_loop.parse_args(
        ["--calibrations", "none", "mean", "--settings", "{}", '{"name": "x", "copy_guard": "off"}']
    )
    assert reward_loop.conditions(args) == {
        "raw": {"calibration": "none"},
        "raw+x": {"calibration": "none", "copy_guard": "off"},
        "mean": {"calibration": "mean"},
        "mean+x": {"calibration": "mean", "copy_guard": "off"},
        "oracle": {"calibration": "none"},
    }
    args = reward_loop.parse_args(["--settings", '{"no_such_field": 1}'])
    with pytest.raises(ValueError, match="no calibration accepts"):
        reward_loop.conditions(args)
    with pytest.raises(SystemExit):
        reward_loop.parse_args(["--routers", "ema-embeddings"])
