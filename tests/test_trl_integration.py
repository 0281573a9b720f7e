"""LanguageRouterCallback with a real TRL GRPOTrainer on CPU and a tiny Qwen2 (seconds per run)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _trl_setup import (
    K_ON,
    LANG_REWARD,
    QUESTIONS,
    SEMANTIC,
    K,
    Recorder,
    RecordingSemanticReward,
    add_router,
    capture_generated,
    capture_records,
    length_score,
    make_dataset,
    make_router,
    make_trainer,
)

from lrpo import ThompsonRouter
from lrpo.rewards import SemanticReward


def entropy(effective):
    return float(-(effective * np.log(effective)).sum(axis=1).mean())


# ----------------------------------------------------------------------------- routing
@pytest.mark.parametrize("conversational", [True, False])
def test_prompts_and_reward_languages_follow_the_plan(tmp_path, conversational):
    router, reward = make_router(), Recorder()
    dataset = make_dataset(conversational=conversational)
    trainer = make_trainer(tmp_path, reward=reward, dataset=dataset)
    add_router(trainer, router)
    records = capture_records(router)
    generated = capture_generated(trainer)
    trainer.train()

    assert router.step == 2 and len(records) == 2 and len(generated) == 2
    routed = 0
    for (plan, rewards), texts, call in zip(records, generated, reward.calls, strict=True):
        assert plan.languages.shape == rewards.shape == (2, K)  # B x K over the batch
        homes = np.array([c.language for c in plan.contexts])
        assert (plan.languages[:, :K_ON] == homes[:, None]).all()
        assert call["language"] == plan.languages.ravel().tolist()
        assert call["prompt_language"] == np.repeat(homes, K).tolist()
        expected = [[LANG_REWARD[c] for c in row] for row in plan.languages]
        np.testing.assert_allclose(rewards, expected)
        for i, text in enumerate(texts):
            b, slot = divmod(i, K)
            lang, home = plan.languages[b, slot], homes[b]
            assert QUESTIONS[home] in text
            if lang == home:
                assert "<|out_lang_" not in text
            else:
                routed += 1
                assert text.count("<|out_lang_") == 1 and f"<|out_lang_{lang}|>" in text
    assert routed > 0  # the seed routes some rollouts away from the prompt's language

    logs = trainer.state.log_history[0]
    assert logs["router/step"] == 1.0 and logs["router/updates"] == 1.0
    shares = {k: v for k, v in logs.items() if k.startswith("router/share/")}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert {"router/epsilon", "router/temperature"} <= set(logs)
    # the entropy of the distribution the step was routed with: before any update the logits
    # are all zero, so it is uniform over the 4 arms, ln 4 (after the update it no longer is)
    assert logs["router/entropy"] == pytest.approx(np.log(4))
    second = entropy(records[1][0].effective)
    assert trainer.state.log_history[1]["router/entropy"] == pytest.approx(second)
    assert second < np.log(4)


def test_entropy_of_a_router_without_plan_distributions_comes_from_the_router(tmp_path):
    router = ThompsonRouter(make_router().config)
    trainer = make_trainer(tmp_path, max_steps=1)
    callback = add_router(trainer, router)
    trainer.train()
    plan = callback.last_plan
    assert plan.effective is None  # Thompson sampling draws without an explicit distribution
    _, effective = router.distributions(plan.contexts, step=plan.step)
    expected = entropy(effective)
    assert trainer.state.log_history[0]["router/entropy"] == pytest.approx(expected)
    assert 0 < expected <= np.log(len(router.languages))


def test_eval_keeps_the_prompt_language_unless_routed(tmp_path):
    router, reward = make_router(), Recorder()
    trainer = make_trainer(tmp_path, reward=reward, max_steps=1)
    add_router(trainer, router)
    trainer.evaluate(eval_dataset=make_dataset(4))
    call = reward.calls[-1]
    assert call["language"] == call["prompt_language"]
    assert all("<|out_lang_" not in p[-1]["content"] for p in call["prompts"])
    assert router.step == 0  # evaluation is never recorded

    router2, reward2 = make_router(epsilon={"kind": "constant", "start": 1.0}), Recorder()
    trainer = make_trainer(tmp_path, reward=reward2)
    add_router(trainer, router2, route_eval=True)
    trainer.evaluate(eval_dataset=make_dataset(8))
    call = reward2.calls[-1]
    assert call["language"] != call["prompt_language"] and router2.step == 0


def test_theme_embedding_column_routes_by_the_router_anchors(tmp_path):
    anchors = {"arithmetic": (1.0, 0.0, 0.0), "geography": (0.0, 1.0, 0.0), "poetry": (0, 0, 1.0)}
    router = make_router(theme_input="embeddings", theme_anchors=anchors)
    embeddings = [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]
    dataset = make_dataset(drop=("theme",), theme_embedding=embeddings)  # no theme labels
    trainer = make_trainer(tmp_path, dataset=dataset)
    add_router(trainer, router, theme_embedding_column="theme_embedding")
    records = capture_records(router)
    trainer.train()

    assert len(records) == 2
    for plan, _ in records:
        assert {c.theme_embedding for c in plan.contexts} <= {tuple(e) for e in embeddings}
        assert all(c.themes == () for c in plan.contexts)
    names, logits = router.theme_table()
    assert (
        names[:3] == list(anchors)
        and router.metric_sums().metrics()["router/cold_start_themes"] == 0
    )
    # the rewards reached the anchor rows (soft weights over all three), no theme label row
    fresh = make_router(theme_input="embeddings", theme_anchors=anchors).theme_table()[1]
    learned = np.abs(logits - fresh).max(axis=1)
    assert learned[:3].all() and not learned[3:].any()


def test_a_default_gate_is_restricted_to_the_languages_of_the_run(tmp_path):
    router = make_router(languages=["de", "ja", "en"])  # the dataset also holds sw prompts
    default = SemanticReward(SEMANTIC, scorer=length_score)
    named = SemanticReward(
        {"gate": {"mode": "hard", "candidates": ["de", "en"]}}, scorer=length_score
    )
    named.__name__ = "named"
    trainer = make_trainer(tmp_path, reward=[default, named])
    add_router(trainer, router)
    assert default.gate.candidates == ("de", "ja", "en", "sw")
    assert named.gate.candidates == ("de", "en")  # the user's choice stands


# ----------------------------------------------------------------------------- learning
def test_learn_from_names_the_reward_function_recorded(tmp_path):
    router = make_router()
    records = capture_records(router)

    def constant(prompts, completions, **kwargs):
        return [7.0] * len(prompts)

    trainer = make_trainer(tmp_path, reward=[Recorder(), constant], max_steps=1)
    assert trainer.reward_func_names == ["recorder", "constant"]
    add_router(trainer, router, learn_from=["recorder"])
    trainer.train()
    plan, rewards = records[0]
    np.testing.assert_allclose(rewards, [[LANG_REWARD[c] for c in row] for row in plan.languages])


def test_router_learns_the_weighted_sum_leaving_out_none(tmp_path):
    """By default GRPO's sum: reward_weights x rewards, a function's None skipped; the router
    records the same, NaN where every function returned None; the logged means count scored
    rollouts."""
    router = make_router()
    records = capture_records(router)

    def german_only(prompts, completions, language, **kwargs):
        return [1.0 if code == "de" else None for code in language]

    def not_japanese(prompts, completions, language, **kwargs):
        return [None if code == "ja" else LANG_REWARD[code] for code in language]

    trainer = make_trainer(
        tmp_path, reward=[german_only, not_japanese], max_steps=1, reward_weights=[2.0, 0.5]
    )
    add_router(trainer, router)
    trainer.train()

    plan, rewards = records[0]
    expected = {"de": 2.0 + 0.5 * LANG_REWARD["de"], "ja": np.nan}
    expected.update({code: 0.5 * LANG_REWARD[code] for code in ("sw", "en")})
    np.testing.assert_allclose(rewards, [[expected[c] for c in row] for row in plan.languages])
    logs = trainer.state.log_history[0]
    for code in set(plan.languages.ravel()):
        share = np.mean(plan.languages == code)
        assert logs[f"router/share/{code}"] == pytest.approx(share)
        assert logs.get(f"router/reward/{code}") == (
            None if code == "ja" else pytest.approx(expected[code])
        )
    assert {"de", "ja"} <= set(plan.languages.ravel())  # both special cases were seen


# ----------------------------------------------------------------------------- metrics
def test_reward_metrics_of_evaluation_are_logged_apart_from_training(tmp_path):
    router, semantic = make_router(), RecordingSemanticReward()
    eval_rollouts = 3 * K  # 3 prompts, K rollouts each
    trainer = make_trainer(
        tmp_path,
        reward=semantic,
        eval_strategy="steps",
        eval_steps=1,
        per_device_eval_batch_size=K,
        eval_dataset=make_dataset(3),
    )
    add_router(trainer, router)
    trainer.train()
    history = trainer.state.log_history
    train_logs = [log for log in history if "router/step" in log]
    eval_logs = [
        log
        for log in history
        if "eval_loss" in log or any(k.startswith("eval_reward/") for k in log)
    ]
    assert len(train_logs) == 2 and len(eval_logs) == 2

    def rollouts(log, prefix=""):
        return sum(
            v for k, v in log.items() if k.startswith(f"{prefix}reward/") and k.endswith("/count")
        )

    assert [rollouts(log) for log in train_logs] == [2 * K, 2 * K]  # one step's rollouts only
    assert [rollouts(log, "eval_") for log in eval_logs] == [eval_rollouts] * 2
    assert all("eval_gate/pass_rate" in log for log in eval_logs)


def test_several_metered_rewards_are_prefixed_by_their_names(tmp_path):
    first, second = RecordingSemanticReward(), SemanticReward(SEMANTIC, scorer=length_score)
    second.__name__ = "second"
    trainer = make_trainer(tmp_path, reward=[first, Recorder(), second], max_steps=1)
    add_router(trainer, make_router())
    trainer.train()
    logs = trainer.state.log_history[0]
    for name in ("semantic_reward", "second"):
        assert logs[f"{name}/reward/mean"] == pytest.approx(logs[f"rewards/{name}/mean"])
        assert f"{name}/gate/pass_rate" in logs
    assert not any(key.startswith(("recorder/", "reward/")) for key in logs)  # not metered


# ----------------------------------------------------------------------------- vLLM server
class StubVLLMClient:
    """Stands in for trl's VLLMClient: records what server mode sends."""

    def __init__(self):
        self.calls = []

    def generate(self, prompts, features=None, n=1, **kwargs):
        self.calls.append({"num_prompts": len(prompts), "n": n, "prompts": prompts})
        completions = [[5, 6, 7] for _ in prompts for _ in range(n)]
        return {
            "prompt_ids": prompts,
            "completion_ids": completions,
            "logprobs": [[[-1.0]] * 3 for _ in completions],
        }


def test_vllm_server_mode_receives_every_rollout_prompt(tmp_path):
    from trl.generation.vllm_generation import VLLMGeneration

    router = make_router(epsilon={"kind": "constant", "start": 1.0})
    trainer = make_trainer(tmp_path, max_steps=1)
    client = StubVLLMClient()
    generation = VLLMGeneration.__new__(VLLMGeneration)  # no server: only the generate() path
    generation.__dict__.update(
        mode="server",
        accelerator=trainer.accelerator,
        enable_sleep_mode=False,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        min_p=None,
        repetition_penalty=1.0,
        max_completion_length=8,
        logprobs=0,
        structured_outputs_regex=None,
        generation_kwargs={},
        vllm_client=client,
    )
    generation.sync_weights = lambda: None
    trainer.use_vllm, trainer.vllm_generation = True, generation
    trainer.vllm_importance_sampling_correction, trainer._last_loaded_step = False, -1

    callback = add_router(trainer, router)
    trainer.train()
    (call,) = client.calls
    assert call["num_prompts"] == 2 * K and call["n"] == 1  # B x K prompts, not B with n=K
    texts = [trainer.processing_class.decode(ids) for ids in call["prompts"]]
    plan = callback.last_plan
    homes = np.repeat([c.language for c in plan.contexts], K)
    for text, lang, home in zip(texts, plan.languages.ravel(), homes, strict=True):
        assert (f"<|out_lang_{lang}|>" in text) == (lang != home)


# ----------------------------------------------------------------------------- the script
def test_example_script_tiny_run(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "recipes" / "trl" / "grpo_lrpo.py"
    spec = importlib.util.spec_from_file_location("grpo_lrpo", path)
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "grpo_lrpo", script)  # dataclasses look the module up
    spec.loader.exec_module(script)
    summary = script.main(["--tiny", "--output-dir", str(tmp_path)])
    assert summary["router_step"] == 2
    last = summary["last_log"]
    assert sum(v for k, v in last.items() if k.startswith("router/share/")) == pytest.approx(1.0)
    assert "gate/pass_rate" in last  # SemanticReward's own metrics reach the trainer's logs
