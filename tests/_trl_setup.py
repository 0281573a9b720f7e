"""What the TRL tests share: tiny data, routers, reward functions and GRPO trainers (CPU)."""

from __future__ import annotations

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")
trl = pytest.importorskip("trl")

from lrpo import LanguageRouter, RouterConfig  # noqa: E402
from lrpo.integrations.trl import LanguageRouterCallback  # noqa: E402
from lrpo.integrations.trl.tiny import tiny_qwen2  # noqa: E402
from lrpo.rewards import SemanticReward  # noqa: E402

K, K_ON = 4, 1
LANG_REWARD = {"de": 1.0, "ja": 0.25, "sw": 0.5, "en": 0.75}
QUESTIONS = {
    "de": "Wie viel ist zwei plus drei?",
    "ja": "二足す三は何ですか。",
    "sw": "Mbili jumlisha tatu ni ngapi?",
}
SEMANTIC = {"gate": {"mode": "hard"}}  # with a scalar score instead of similarity


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


def make_trainer(
    tmp_path, *, dataset=None, reward=None, eval_dataset=None, trainer_class=None, **args
):
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
    return (trainer_class or trl.GRPOTrainer)(
        model=model,
        processing_class=tokenizer,
        reward_funcs=reward if isinstance(reward, list) else [reward or Recorder()],
        train_dataset=make_dataset() if dataset is None else dataset,
        eval_dataset=eval_dataset,
        args=trl.GRPOConfig(**config),
    )


def add_router(trainer, router, **options):
    """Build the callback for ``trainer`` and add it, as a TRL script does; returns it."""
    callback = LanguageRouterCallback(trainer, router, **options)
    trainer.add_callback(callback)
    return callback


def capture_records(router):
    """Wrap router.record to keep every (plan, rewards) it receives."""
    records, record = [], router.record

    def spy(plan, rewards):
        records.append((plan, np.array(rewards)))
        return record(plan, rewards)

    router.record = spy
    return records


def capture_generated(trainer):
    """Decode the prompt token ids that reach generation, per _generate call."""
    generated, generate = [], trainer._generate

    def spy(prompts):
        out = generate(prompts)
        generated.append([trainer.processing_class.decode(ids) for ids in out[0]])
        return out

    trainer._generate = spy
    return generated
