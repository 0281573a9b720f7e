"""Tests for benchmarks/trl_overhead.py (quick mode: a real GRPOTrainer on CPU, seconds)."""

import json
import threading

import pytest

pytest.importorskip("trl")
pytest.importorskip("datasets")


def test_quick_mode_writes_json_with_expected_keys(tmp_path, benchmark_module):
    output = tmp_path / "trl_overhead.json"
    results = benchmark_module("trl_overhead").main(["--quick", "--output", str(output)])
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(results))
    assert set(saved) == {
        "settings",
        "environment",
        "arms",
        "comparison",
        "repeat_seconds_median",
        "targets",
    }
    settings = saved["settings"]
    assert settings["quick"] is True and settings["repeats"] == 1 and settings["steps"] == 2
    assert set(saved["arms"]) == {"plain", "directive", "callback"}
    for arm in saved["arms"].values():
        assert arm["runs"] == 1 and arm["timed_steps"] == 2
        assert arm["step_s_median"] > 0 and arm["step_s_mean"] > 0
        assert arm["reward_s_median"] > 0 and arm["generate_s_median"] > 0
        assert arm["rollouts_per_step"] == settings["batch_size"]
        # min_new_tokens: both arms generate full-length completions
        assert arm["completion_tokens_mean"] == settings["max_completion_length"]
        assert arm["prompt_tokens_mean"] > 0
    plain, directive, routed = (saved["arms"][arm] for arm in ("plain", "directive", "callback"))
    assert routed["router_route_s_median"] > 0 and routed["router_record_s_median"] > 0
    assert routed["callback_s_median"] > 0 and plain["router_route_s_median"] == 0
    assert routed["router_steps"] == [1 + 2] and plain["router_steps"] == [None]
    # the directive arm sends the longer prompts of routed rollouts, without a router
    assert directive["router_steps"] == [None] and directive["router_route_s_median"] == 0
    assert directive["prompt_tokens_mean"] > plain["prompt_tokens_mean"]
    assert routed["prompt_tokens_mean"] > plain["prompt_tokens_mean"]
    comparison = saved["comparison"]
    assert comparison["ratio_median"] > 0
    # one ratio per timed step: step i of the callback run against step i of the plain run
    ratios = [c / p for c, p in zip(routed["run_step_s"][0], plain["run_step_s"][0], strict=True)]
    assert comparison["paired_step_ratios"] == pytest.approx(ratios) and len(ratios) == 2
    assert set(comparison) >= {
        "overhead_pct",
        "overhead_pct_beyond_reward",
        "prompt_tokens_added",
        "directive_overhead_pct",
        "machinery_overhead_pct",
        "paired_directive_pct_median",
        "paired_machinery_pct_median",
        "callback_work_pct_of_plain_step",
    }
    assert len(comparison["paired_overhead_pct_quartiles"]) == 3
    assert comparison["paired_overhead_pct_interval95"] == []  # one repeat: no interval
    assert saved["repeat_seconds_median"] > 0
    assert set(saved["targets"]) == {
        "targets/overhead_pct",
        "targets/overhead_pct_met",
        "targets/callback_work_pct_met",
    }


def test_directive_arm_rewrites_the_routed_slots_only(benchmark_module):
    module = benchmark_module("trl_overhead")
    args = module.parse_args(
        ["--languages", "de", "ja", "--num-generations", "3", "--num-on-policy", "1"]
    )
    german = {"prompt": "Wie viel?", "language": "de"}
    japanese = {"prompt": "何?", "language": "ja"}
    inputs = [german] * 3 + [japanese] * 3
    rows = module.with_directives(args, inputs)
    # group 0 asks languages[(0 + j) % 2] = de, ja, de; group 1 ja, de, ja; K_on = 1 keeps slot 0
    first_group = ["Wie viel?", "Wie viel?\n<|out_lang_ja|>", "Wie viel?"]
    second_group = ["何?", "何?\n<|out_lang_de|>", "何?"]
    assert [row["prompt"] for row in rows] == first_group + second_group
    assert inputs[1]["prompt"] == "Wie viel?"  # the input dicts are not mutated


def test_tags_as_single_tokens_shorten_the_routed_prompts(tmp_path, benchmark_module):
    output = tmp_path / "trl_overhead.json"
    results = benchmark_module("trl_overhead").main(
        ["--quick", "--tag-tokens", "--output", str(output)]
    )
    arms = results["arms"]
    assert results["settings"]["tag_tokens"] is True
    # a routed rollout adds "\n" and one tag token, and K_on of every K rollouts are not routed
    settings = results["settings"]
    routed = 1 - settings["num_on_policy"] / settings["num_generations"]
    added = arms["callback"]["prompt_tokens_mean"] - arms["plain"]["prompt_tokens_mean"]
    assert 0 < added <= 2 * routed


def test_take_turns_rotates_one_step_at_a_time_and_survives_a_failed_arm(benchmark_module):
    turns = benchmark_module("trl_overhead").TakeTurns(["a", "b", "c"])
    log, running = [], []

    def run(arm: str, steps: int) -> None:
        turns.take(arm)
        try:
            for i in range(steps):
                turns.step(arm)
                running.append(arm)
                assert running == [arm]  # nobody else runs while an arm holds the turn
                log.append((arm, i))
                running.remove(arm)
        finally:
            turns.leave(arm)

    threads = [
        threading.Thread(target=run, args=(arm, steps))
        for arm, steps in (("c", 3), ("a", 3), ("b", 1))  # "b" stops early, as a failure would
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert log == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("c", 1), ("a", 2), ("c", 2)]


def test_interval_of_the_paired_median_resamples_whole_repeats(benchmark_module):
    interval = benchmark_module("trl_overhead")._interval_pct
    assert interval([[1.01, 1.03, 1.02]]) == []  # one repeat: nothing to resample
    assert interval([[1.02, 1.02], [1.02, 1.02]]) == pytest.approx([2.0, 2.0])
    # repeats at +1% and +5%: the pooled median of a resample lies between them, and both
    # ends are reached (a resample of one repeat twice)
    low, high = interval([[1.01] * 4, [1.05] * 4], resamples=500)
    assert low == pytest.approx(1.0) and high == pytest.approx(5.0)
