"""The semantic-reward recipe (cold-start SFT, then routed and monolingual GRPO, then
evaluation), run end to end with ``--tiny`` on a tiny local Qwen2 (CPU, no network)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

SCRIPT = Path(__file__).parents[1] / "recipes" / "semantic" / "sft_then_grpo.py"
STAGES = ("base", "sft", "grpo-lrpo", "grpo-none")


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("sft_then_grpo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sft_then_grpo"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["sft_then_grpo"]


@pytest.fixture(scope="module")
def run(script, tmp_path_factory):
    """The whole ``--tiny`` comparison, once for the module: (summary, output directory)."""
    out = tmp_path_factory.mktemp("semantic")
    return script.main(["--tiny", "--output-dir", str(out)]), out


def test_defaults_are_the_seed_values(script):
    args = script.Args()
    assert (args.lora_r, args.lora_alpha, args.lora_dropout) == (64, 128, 0.05)
    assert (args.num_generations, args.temperature, args.top_p) == (8, 0.8, 0.9)
    assert (args.lambda_sim, args.lambda_lang) == (1.5, 1.0)
    assert (args.sft_learning_rate, args.grpo_learning_rate) == (2e-5, 5e-7)


def test_tiny_defaults_yield_to_explicit_flags(script):
    args = script.parse_args(["--tiny", "--grpo-steps", "3", "--router", "none"])
    assert args.tiny and args.train_problems == script.TINY.train_problems
    assert args.grpo_steps == 3 and args.router == ("none",)
    assert script.parse_args([]).train_problems == script.Args().train_problems


def test_sft_trained_the_seed_lora(run):
    sft = run[0]["sft"]
    assert sft["lora"]["r"] == 64 and sft["lora"]["alpha"] == 128
    assert sft["lora"]["dropout"] == pytest.approx(0.05)
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"} <= set(
        sft["lora"]["target_modules"]
    )  # attention and MLP
    assert sft["steps"] >= 1 and sft["loss_first"] is not None
    assert sft["lora_b_norm"] > 0  # lora_B starts at zero: the adapters were trained


def test_tags_are_single_tokens_of_the_saved_tokenizer(run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    summary, out = run
    checkpoint = out / "sft"
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert set(summary["tags"]) == {"<|out_lang_sw|>", "<|out_lang_de|>"}
    for tag, token_id in summary["tags"].items():
        assert tokenizer(tag, add_special_tokens=False)["input_ids"] == [token_id]
        routed = tokenizer(f"Swali?\n{tag}", add_special_tokens=False)["input_ids"]
        assert routed.count(token_id) == 1
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    assert model.get_input_embeddings().num_embeddings >= len(tokenizer)


def test_tag_embedding_starts_as_the_language_name(script):
    from lrpo.integrations.trl.tiny import tiny_qwen2

    model, tokenizer = tiny_qwen2()
    (tag,) = script.add_tags(model, tokenizer, ["de"])
    rows = model.get_input_embeddings().weight
    name = tokenizer(" German", add_special_tokens=False)["input_ids"]
    expected = rows[name].mean(0)
    assert np.allclose(rows[tokenizer.convert_tokens_to_ids(tag)].detach(), expected.detach())


def test_grpo_used_the_seed_reward_and_the_router(run, script):
    summary, _ = run
    for kind in ("lrpo", "none"):
        grpo = summary["grpo"][kind]
        assert grpo["reward_functions"] == ["semantic_reward"]
        config = grpo["reward_config"]
        assert (config["lambda_sim"], config["lambda_lang"]) == (1.5, 1.0)
        assert config["composition"] == "weighted" and config["threshold"] == 0.9
        assert config["gate"]["mode"] == "soft"
        assert grpo["steps"] == script.TINY.grpo_steps and grpo["reward_first"] is not None
    routed = summary["grpo"]["lrpo"]
    assert routed["router_steps"] == script.TINY.grpo_steps
    assert sum(routed["router_shares"].values()) == pytest.approx(1.0)
    assert summary["grpo"]["none"]["router_steps"] is None


def test_reward_follows_the_seed_formula(script):
    """R = 1.5 * max(0, (c - tau) / (1 - tau)) + 1.0 * share, on a hand-made batch: the right
    answer, another problem's answer (below tau), and the right answer in English."""
    from lrpo.rewards import LanguageGate

    reference = "Zuerst 6 * 2 = 12 Zoll. Dann 12 / 12 = 1 Fuß. 1 / 10 * 100% = 10%\n#### 10"
    completions = [
        "Zuerst rechnen wir 6 * 2 = 12 Zoll, also 1 Fuß. 1 / 10 * 100% = 10%\n#### 10",
        "Sie kauft 3 Äpfel für je 2 Euro und zahlt damit 6 Euro.\n#### 6",
        "First, 6 * 2 = 12 inches, which is 1 foot. 1 / 10 * 100% = 10%\n#### 10",
    ]
    reward = script.semantic_reward(script.Args(), ["de", "sw"])
    values = reward(prompts=["Frage?"] * 3, completions=completions, language=["de"] * 3,
                    reference=[reference] * 3)  # fmt: skip
    breakdown = reward.last_breakdown
    calibrated, tau = breakdown.calibrated, 0.9
    share = LanguageGate(candidates=("de", "sw", "en")).check(completions, "de").language_share
    expected = 1.5 * np.maximum((calibrated - tau) / (1 - tau), 0.0) + 1.0 * share
    assert np.allclose(values, expected)
    assert calibrated[0] > tau > calibrated[1]  # both sides of the threshold are exercised
    assert share[0] == 1.0 and share[2] < 0.5  # English for German loses the language term
    assert values[0] > values[2] and values[0] > values[1]


def test_results_have_every_stage_and_language(run):
    summary, out = run
    saved = json.loads((out / "metrics.json").read_text("utf-8"))
    assert saved["results"] == summary["results"]
    cells = {(row["stage"], row["language"]): row for row in saved["results"]}
    assert set(cells) == {(stage, lang) for stage in STAGES for lang in ("sw", "de")}
    for row in cells.values():
        assert row["n"] == 2
        for metric in ("accuracy", "language_consistency", "directed_consistency"):
            assert 0.0 <= row[metric] <= 1.0
    assert not set(saved["train_problems"]) & set(saved["eval_problems"])
    assert (out / "semantic_grpo.png").stat().st_size > 0
    assert (out / "grpo-lrpo" / "adapter_config.json").exists()  # the GRPO adapter


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("So 12 / 12 = 1 foot.\n\n#### 1,530", 1530.0),
        ("जवाब\n#### १४०", 140.0),  # Devanagari digits
        ("3 + 4 = 7, so she has 7 left", 7.0),  # no answer line: the last number
        ("#### 2.5 then 9", 2.5),
        ("no number here", None),
    ],
)
def test_final_answer(script, text, number):
    assert script.final_answer(text) == number
