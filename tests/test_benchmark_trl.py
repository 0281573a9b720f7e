"""Tests for benchmarks/trl_overhead.py (quick mode: a real GRPOTrainer on CPU, seconds)."""

import json

import pytest

pytest.importorskip("trl")
pytest.importorskip("datasets")


def test_quick_mode_writes_json_with_expected_keys(tmp_path, benchmark_module):
    output = tmp_path / "trl_overhead.json"
    results = benchmark_module("trl_overhead").main(["--quick", "--output", str(output)])
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(results))
    assert set(saved) == {
        "settings", "environment", "arms", "comparison", "run_seconds_median", "targets"
    }  # fmt: skip
    settings = saved["settings"]
    assert settings["quick"] is True and settings["repeats"] == 1 and settings["steps"] == 2
    assert set(saved["arms"]) == {"plain", "callback"}
    for arm in saved["arms"].values():
        assert arm["runs"] == 1 and arm["timed_steps"] == 2
        assert arm["step_s_median"] > 0 and arm["step_s_mean"] > 0
        assert arm["reward_s_median"] > 0 and arm["generate_s_median"] > 0
        assert arm["rollouts_per_step"] == settings["batch_size"]
        # min_new_tokens: both arms generate full-length completions
        assert arm["completion_tokens_mean"] == settings["max_completion_length"]
        assert arm["prompt_tokens_mean"] > 0
    plain, routed = saved["arms"]["plain"], saved["arms"]["callback"]
    assert routed["router_route_s_median"] > 0 and routed["router_record_s_median"] > 0
    assert routed["callback_s_median"] > 0 and plain["router_route_s_median"] == 0
    assert routed["router_steps"] == [1 + 2] and plain["router_steps"] == [None]
    comparison = saved["comparison"]
    assert comparison["ratio_median"] > 0 and len(comparison["paired_run_ratios"]) == 1
    assert set(comparison) >= {"overhead_pct", "overhead_pct_beyond_reward", "prompt_tokens_added"}
    assert set(saved["run_seconds_median"]) == {"plain", "callback"}
    assert set(saved["targets"]) == {"targets/overhead_pct", "targets/overhead_pct_met"}
