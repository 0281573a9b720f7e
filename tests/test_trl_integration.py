"""LanguageRouterCallback with a real TRL GRPOTrainer on CPU and a tiny Qwen2 (seconds per run)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

import trl  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from lrpo import LanguageRouter, RouterConfig, ThompsonRouter  # noqa: E402
from lrpo.integrations.trl import (  # noqa: E402
    HEATMAP_NAMES,
    ROUTER_STATE_NAME,
    LanguageRouterCallback,
)
from lrpo.integrations.trl.tiny import tiny_qwen2  # noqa: E402
from lrpo.rewards import SemanticReward  # noqa: E402

K, K_ON = 4, 1
LANG_REWARD = {"de": 1.0, "ja": 0.25, "sw": 0.5, "en": 0.75}
QUESTIONS = {
    "de": "Wie viel ist zwei plus drei?",
    "ja": "二足す三は何ですか。",
    "sw": "Mbili jumlisha tatu ni ngapi?",
}


def make_dataset(n=8, *, conversational=True, drop=(), **extra_columns):
    """``n`` prompts cycling over de, ja, sw; ``extra_columns`` are lists cycled over the rows."""
    rows = []
    for i in range(n):
        lang = list(QUESTIONS)[i % 3]
        text = f"{QUESTIONS[lang]} ({i})"
        prompt = [{"role": "user", "content": text}] if conversational else text
        row = {"prompt": prompt, "language": lang, "theme": "Reasoning / Logic", "id": i}
        row.update((name, values[i % len(values)]) for name, values in extra_columns.items())
        rows.append({k: v for k, v in row.items() if k not in drop})
    return datasets.Dataset.from_list(rows)


def make_router(**overrides):
    config = {
        "languages": ["de", "ja", "sw", "en"],
        "num_rollouts": K,
        "num_on_policy": K_ON,
        "update_period": 1,
        "seed": 3,
        **overrides,
    }
    return LanguageRouter(RouterConfig(**config))


class Recorder:
    """A reward function that remembers what it received; rewards depend on the language only."""

    __name__ = "recorder"

    def __init__(self):
        self.calls = []

    def __call__(self, prompts, completions, **kwargs):
        self.calls.append({"prompts": prompts, **kwargs})
        return [LANG_REWARD[code] for code in kwargs["language"]]


def length_score(prompts, completions, references):
    """A cheap deterministic quality score for SemanticReward (no embedder)."""
    return [len(text) % 5 / 4 for text in completions]


SEMANTIC = {"gate_mode": "hard"}  # a scalar score instead of similarity, the default gate


class RecordingSemanticReward(SemanticReward):
    """SemanticReward (gate, guards, metrics) that keeps the inputs of every call."""

    def __init__(self):
        super().__init__(SEMANTIC, scorer=length_score)
        self.calls = []

    def __call__(self, prompts=None, completions=None, **kwargs):
        self.calls.append(
            {"prompts": prompts, "completions": completions, "language": kwargs["language"]}
        )
        return super().__call__(prompts=prompts, completions=completions, **kwargs)


def make_trainer(tmp_path, *, router=None, dataset=None, reward=None, callbacks=(),
                 eval_dataset=None, **args):  # fmt: skip
    """A tiny GRPO trainer; ``reward`` is one reward function or a list (default Recorder())."""
    model, tokenizer = tiny_qwen2()
    config = {
        "output_dir": str(tmp_path),
        "use_cpu": True,
        "bf16": False,
        "report_to": "none",
        "max_steps": 2,
        "per_device_train_batch_size": 2 * K,
        "num_generations": K,
        "max_completion_length": 8,
        "logging_steps": 1,
        "save_strategy": "no",
        "seed": 0,
        **args,
    }
    return GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=reward if isinstance(reward, list) else [reward or Recorder()],
        train_dataset=make_dataset() if dataset is None else dataset,
        eval_dataset=eval_dataset,
        args=GRPOConfig(**config),
        callbacks=list(callbacks),
    )


def capture_records(router):
    """Wrap router.record to keep every (plan, rewards) it receives."""
    records, record = [], router.record

    def spy(plan, rewards):
        records.append((plan, np.array(rewards)))
        return record(plan, rewards)

    router.record = spy
    return records


def capture_generated(trainer, tokenizer):
    """Decode the prompt token ids that reach generation, per _generate call."""
    generated, generate = [], trainer._generate

    def spy(prompts):
        out = generate(prompts)
        generated.append([tokenizer.decode(ids) for ids in out[0]])
        return out

    trainer._generate = spy
    return generated


# ----------------------------------------------------------------------------- (a) + (b)
@pytest.mark.parametrize("conversational", [True, False])
def test_prompts_and_reward_languages_follow_the_plan(tmp_path, conversational):
    router, reward = make_router(), Recorder()
    trainer = make_trainer(
        tmp_path, router=router, reward=reward, dataset=make_dataset(conversational=conversational)
    )
    callback = LanguageRouterCallback(router)
    callback.attach(trainer)
    records = capture_records(router)
    generated = capture_generated(trainer, trainer.processing_class)
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
    effective = records[1][0].effective
    second = float(-(effective * np.log(effective)).sum(axis=1).mean())
    assert trainer.state.log_history[1]["router/entropy"] == pytest.approx(second)
    assert second < np.log(4)


def test_entropy_of_a_router_without_plan_distributions_comes_from_the_router():
    router = ThompsonRouter(make_router().config)
    plan = router.route([{"language": "de", "theme": "Math"}, {"language": "ja", "theme": "Math"}])
    assert plan.effective is None  # Thompson sampling draws without an explicit distribution
    _, effective = router.distributions(plan.contexts, step=plan.step)
    expected = -(effective * np.log(effective)).sum(axis=1).mean()
    assert LanguageRouterCallback(router)._entropy(plan) == pytest.approx(expected)
    assert 0 < expected <= np.log(len(router.languages))


def test_eval_keeps_the_prompt_language_unless_routed(tmp_path):
    router, reward = make_router(), Recorder()
    trainer = make_trainer(tmp_path, router=router, reward=reward, max_steps=1)
    LanguageRouterCallback(router).attach(trainer)
    trainer.evaluate(eval_dataset=make_dataset(4))
    call = reward.calls[-1]
    assert call["language"] == call["prompt_language"]
    assert all("<|out_lang_" not in p[-1]["content"] for p in call["prompts"])
    assert router.step == 0  # evaluation is never recorded

    router2, reward2 = make_router(epsilon={"kind": "constant", "start": 1.0}), Recorder()
    trainer = make_trainer(tmp_path, router=router2, reward=reward2)
    LanguageRouterCallback(router2, route_eval=True).attach(trainer)
    trainer.evaluate(eval_dataset=make_dataset(8))
    call = reward2.calls[-1]
    assert call["language"] != call["prompt_language"] and router2.step == 0


def test_reward_metrics_of_evaluation_are_logged_apart_from_training(tmp_path):
    router, semantic = make_router(), RecordingSemanticReward()
    eval_rollouts = 3 * K  # 3 prompts, K rollouts each
    trainer = make_trainer(tmp_path, router=router, reward=semantic, max_steps=2,
                           eval_strategy="steps", eval_steps=1, per_device_eval_batch_size=K,
                           eval_dataset=make_dataset(3))  # fmt: skip
    LanguageRouterCallback(router).attach(trainer)
    trainer.train()
    train_logs = [log for log in trainer.state.log_history if "router/step" in log]
    eval_logs = [log for log in trainer.state.log_history if "eval_loss" in log or any(
        k.startswith("eval_reward/") for k in log)]  # fmt: skip
    assert len(train_logs) == 2 and len(eval_logs) == 2

    def rollouts(log, prefix=""):
        return sum(v for k, v in log.items()
                   if k.startswith(f"{prefix}reward/") and k.endswith("/count"))  # fmt: skip

    assert [rollouts(log) for log in train_logs] == [2 * K, 2 * K]  # one step's rollouts only
    assert [rollouts(log, "eval_") for log in eval_logs] == [eval_rollouts] * 2
    assert all("eval_gate/pass_rate" in log for log in eval_logs)


def test_marked_reward_function_is_the_one_recorded(tmp_path):
    router = make_router()
    callback = LanguageRouterCallback(router)
    records = capture_records(router)

    def constant(prompts, completions, **kwargs):
        return [7.0] * len(prompts)

    model, tokenizer = tiny_qwen2()
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=make_dataset(),
        reward_funcs=[callback.reward_func(Recorder()), constant],
        args=GRPOConfig(
            output_dir=str(tmp_path),
            use_cpu=True,
            bf16=False,
            report_to="none",
            max_steps=1,
            per_device_train_batch_size=2 * K,
            num_generations=K,
            max_completion_length=8,
            save_strategy="no",
        ),
    )
    callback.attach(trainer)
    trainer.train()
    plan, rewards = records[0]
    np.testing.assert_allclose(rewards, [[LANG_REWARD[c] for c in row] for row in plan.languages])


def test_router_learns_the_weighted_sum_leaving_out_none(tmp_path):
    """GRPO sums reward_weights x rewards and skips a function's None: the router records the
    same, NaN where every function returned None; the logged means count scored rollouts."""
    router = make_router()
    records = capture_records(router)

    def german_only(prompts, completions, language, **kwargs):
        return [1.0 if code == "de" else None for code in language]

    def not_japanese(prompts, completions, language, **kwargs):
        return [None if code == "ja" else LANG_REWARD[code] for code in language]

    trainer = make_trainer(
        tmp_path, router=router, reward=[german_only, not_japanese], max_steps=1,
        reward_weights=[2.0, 0.5],
    )  # fmt: skip
    LanguageRouterCallback(router).attach(trainer)
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


# ----------------------------------------------------------------------------- (c) resume
def test_resume_routes_as_an_uninterrupted_run(tmp_path):
    settings = {"max_steps": 4, "save_strategy": "steps", "save_steps": 2}
    full_router = make_router(update_period=2)
    full = make_trainer(tmp_path / "full", router=full_router, **settings)
    LanguageRouterCallback(full_router).attach(full)
    full_records = capture_records(full_router)
    full.train()
    checkpoint = tmp_path / "full" / "checkpoint-2"
    assert (checkpoint / ROUTER_STATE_NAME).is_file()
    assert not list(checkpoint.glob("*.png"))  # heatmaps only with save_heatmaps=True

    resumed_router = make_router(update_period=2)
    resumed = make_trainer(tmp_path / "resumed", router=resumed_router, **settings)
    LanguageRouterCallback(resumed_router).attach(resumed)
    resumed_records = capture_records(resumed_router)
    resumed.train(resume_from_checkpoint=str(checkpoint))

    assert len(full_records) == 4 and len(resumed_records) == 2
    for (a, ra), (b, rb) in zip(full_records[2:], resumed_records, strict=True):
        assert a.step == b.step and a.contexts == b.contexts
        assert (a.languages == b.languages).all()
        np.testing.assert_array_equal(ra, rb)
    assert json.dumps(full_router.state_dict()) == json.dumps(resumed_router.state_dict())

    fresh_router = make_router(update_period=2)  # without the state file: a clear error
    os.remove(checkpoint / ROUTER_STATE_NAME)
    again = make_trainer(tmp_path / "again", router=fresh_router, **settings)
    LanguageRouterCallback(fresh_router).attach(again)
    with pytest.raises(FileNotFoundError, match="strict_resume=False"):
        again.train(resume_from_checkpoint=str(checkpoint))


def test_heatmaps_of_the_router_tables_are_saved_in_the_checkpoint(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    router = make_router()
    dataset = make_dataset(region=["Germany", "Japan", None])
    trainer = make_trainer(
        tmp_path, dataset=dataset, max_steps=1, save_strategy="steps", save_steps=1
    )
    LanguageRouterCallback(router, save_heatmaps=True).attach(trainer)
    trainer.train()
    assert sorted(router.region_table()[0]) == ["Germany", "Japan"]  # both tables have rows
    for name in HEATMAP_NAMES.values():
        path = tmp_path / "checkpoint-1" / name
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        pixels = image.imread(path)  # decodes: a real image with something drawn on it
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100 and pixels.std() > 0


ANCHORS = {"arithmetic": (1.0, 0.0, 0.0), "geography": (0.0, 1.0, 0.0), "poetry": (0.0, 0.0, 1.0)}


def test_theme_embedding_column_routes_by_the_router_anchors(tmp_path):
    router = make_router(theme_input="embeddings", theme_anchors=ANCHORS)
    embeddings = [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]
    dataset = make_dataset(drop=("theme",), theme_embedding=embeddings)  # no theme labels
    trainer = make_trainer(tmp_path, dataset=dataset)
    LanguageRouterCallback(router, theme_embedding_column="theme_embedding").attach(trainer)
    records = capture_records(router)
    trainer.train()

    assert len(records) == 2
    for plan, _ in records:
        assert {c.theme_embedding for c in plan.contexts} <= {tuple(e) for e in embeddings}
        assert all(c.themes == () for c in plan.contexts)
    names, logits = router.theme_table()
    assert names[:3] == list(ANCHORS) and router.counters["cold_start_themes"] == 0
    # the rewards reached the anchor rows (soft weights over all three), no theme label row
    fresh = make_router(theme_input="embeddings", theme_anchors=ANCHORS).theme_table()[1]
    learned = np.abs(logits - fresh).max(axis=1)
    assert learned[:3].all() and not learned[3:].any()


def test_options_are_checked_at_construction(monkeypatch):
    with pytest.raises(ValueError, match="theme_input='embeddings'"):
        LanguageRouterCallback(make_router(), theme_embedding_column="theme_embedding")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were missing
    with pytest.raises(ImportError, match=r"pip install 'lrpo\[plot\]'"):
        LanguageRouterCallback(make_router(), save_heatmaps=True)


# ----------------------------------------------------------------------------- (d) bad config
@pytest.mark.parametrize(
    ("case", "error", "match"),
    [
        ("no_theme", ValueError, r"lacks the column\(s\) \['theme'\]"),
        ("no_language", ValueError, r"lacks the column\(s\) \['language'\]"),
        ("k_on_too_big", ValueError, "num_on_policy=4 of num_generations=4"),
        ("k_mismatch", ValueError, "num_generations=4 but the router plans num_rollouts=8"),
        ("trl_too_new", RuntimeError, r"trl>=1.0,<1.17"),
        ("trl_too_old", RuntimeError, r"trl>=1.0,<1.17"),
        ("stray_marked_reward", ValueError, "not among the trainer's reward_funcs"),
    ],
)
def test_bad_configuration_fails_at_attach(tmp_path, monkeypatch, case, error, match):
    router = make_router()
    dataset = None
    if case == "no_theme":
        dataset = make_dataset(drop=("theme",))
    elif case == "no_language":
        dataset = make_dataset(drop=("language",))
    elif case == "k_on_too_big":
        router = make_router(num_on_policy=K)
    elif case == "k_mismatch":
        router = make_router(num_rollouts=8)
    elif case == "trl_too_new":
        monkeypatch.setattr(trl, "__version__", "1.17.0")
    elif case == "trl_too_old":
        monkeypatch.setattr(trl, "__version__", "0.29.0")
    callback = LanguageRouterCallback(router)
    if case == "stray_marked_reward":
        callback.reward_func(Recorder())
    trainer = make_trainer(tmp_path, dataset=dataset)
    with pytest.raises(error, match=match):
        callback.attach(trainer)


def test_training_without_attach_names_the_fix(tmp_path):
    callback = LanguageRouterCallback(make_router())
    trainer = make_trainer(tmp_path, callbacks=[callback])
    with pytest.raises(RuntimeError, match=r"call callback.attach\(trainer\)"):
        trainer.train()


# ----------------------------------------------------------------------------- (f) vLLM server
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
    trainer = make_trainer(tmp_path, router=router, max_steps=1)
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

    callback = LanguageRouterCallback(router)
    callback.attach(trainer)
    trainer.train()
    (call,) = client.calls
    assert call["num_prompts"] == 2 * K and call["n"] == 1  # B x K prompts, not B with n=K
    texts = [trainer.processing_class.decode(ids) for ids in call["prompts"]]
    for text, lang, home in zip(
        texts,
        callback.last_plan.languages.ravel(),
        np.repeat([c.language for c in callback.last_plan.contexts], K),
        strict=True,
    ):
        assert (f"<|out_lang_{lang}|>" in text) == (lang != home)


# ----------------------------------------------------------------------------- (e) two ranks
def _rank_worker(rank, world, port, out_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    from pathlib import Path

    router, reward, semantic = make_router(), Recorder(), RecordingSemanticReward()
    callback = LanguageRouterCallback(router)  # learns from Recorder; SemanticReward is logged
    # 6 rollouts per rank and K=4: the middle group of each step is split across the ranks.
    trainer = make_trainer(
        Path(out_dir) / "run",
        reward=[callback.reward_func(reward), semantic],
        per_device_train_batch_size=6,
        dataset=make_dataset(12),
    )
    assert trainer.accelerator.num_processes == world
    callback.attach(trainer)
    records = capture_records(router)
    trainer.train()
    result = {
        "plans": [plan.languages.tolist() for plan, _ in records],
        "contexts": [[c.language for c in plan.contexts] for plan, _ in records],
        "rewards": [rewards.tolist() for _, rewards in records],
        "seen": [call["language"] for call in reward.calls],
        "state": router.state_dict(),
        "semantic_calls": semantic.calls,
        "logs": [log for log in trainer.state.log_history if "train_runtime" not in log],
    }
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
        json.dump(result, handle)


def test_two_ranks_route_and_learn_identically(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_rank_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for key in ("plans", "contexts", "rewards", "state"):
        assert ranks[0][key] == ranks[1][key], key
    plans = np.array(ranks[0]["plans"])
    assert plans.shape == (2, 3, K)  # 2 steps, 3 groups over both ranks, K rollouts
    for step, plan in enumerate(plans):  # each rank's reward saw its own slice of the plan
        flat = plan.ravel().tolist()
        assert ranks[0]["seen"][step] == flat[:6] and ranks[1]["seen"][step] == flat[6:]
    assert ranks[0]["state"]["step"] == 2

    # SemanticReward's metrics are summed over the ranks: both log those of all 12 rollouts,
    # as one process scoring both slices would.
    whole = SemanticReward(SEMANTIC, scorer=length_score)
    whole.use_languages(make_router().config.languages)  # as the callback did (+ dataset's)
    for step in range(2):
        calls = [rank["semantic_calls"][step] for rank in ranks]
        whole(**{key: calls[0][key] + calls[1][key] for key in calls[0]})
        expected = whole.metrics(reset=True)
        logged = [[rank["logs"][step][key] for key in expected] for rank in ranks]
        np.testing.assert_array_equal(logged[0], logged[1])
        np.testing.assert_allclose(logged[0], list(expected.values()), rtol=1e-12)
        counts = sum(v for k, v in expected.items() if k.endswith("/count"))
        assert counts == 12 and len(calls[0]["completions"]) == 6


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


def test_attach_restricts_a_default_gate_to_the_languages_of_the_run(tmp_path):
    router = make_router(languages=["de", "ja", "en"])  # the dataset also holds sw prompts
    callback = LanguageRouterCallback(router)
    default = SemanticReward(SEMANTIC, scorer=length_score)
    named = SemanticReward({**SEMANTIC, "gate_candidates": ["de", "en"]}, scorer=length_score)
    trainer = make_trainer(tmp_path, router=router, reward=[callback.reward_func(default), named])
    callback.attach(trainer)
    assert default.gate.candidates == ("de", "ja", "en", "sw")
    assert named.gate.candidates == ("de", "en")  # the user's choice stands
