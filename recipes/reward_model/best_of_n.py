"""Best-of-n with a reward model trained in one language, calibrated per language (seed 004).

A policy samples n answers per prompt, in several languages; ``lrpo calibrate-scores`` fits the
reward model's per-language calibrator on those answers; ``lrpo best-of-n`` keeps each prompt's
best answer by calibrated score. The two commands are printed as they run, so they can be
rerun on other files.

Offline smoke run (a tiny random policy and reward model built locally, no network, seconds):

    python recipes/reward_model/best_of_n.py --tiny

A real run (needs the network for the models; any causal LM and sequence-classification RM):

    python recipes/reward_model/best_of_n.py --policy Qwen/Qwen2.5-1.5B-Instruct \\
        --reward-model Skywork/Skywork-Reward-V2-Qwen3-0.6B --languages de,ja,sw \\
        --per-language 50 --n 8 --max-new-tokens 256

``--answer-languages same`` (the default) asks every answer in its prompt's language, the
paper's setting: one reward model (Skywork's is trained on English preferences) reranks the
answers of another language. ``--answer-languages de,sw`` asks answer j of every prompt in the
j-th language, cyclically: a routed group, where only the calibrated score compares answers of
different languages fairly. The prompts are multilingual GSM-symbolic questions (offline).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import tyro
from rm_common import gsm_rows, load_policy, save_tiny_reward_model, tiny_texts


@dataclass
class Args:
    tiny: bool = False  # tiny local policy and reward model, no network
    policy: str = "Qwen/Qwen2.5-1.5B-Instruct"  # causal LM that samples (ignored with --tiny)
    reward_model: str = "Skywork/Skywork-Reward-V2-Qwen3-0.6B"  # RM (ignored with --tiny)
    languages: str = "de,ja,sw"  # languages of the prompts (comma-separated codes)
    answer_languages: str = "same"  # same | codes asked in turn within each prompt's group
    directive: str = "tag"  # how an answer is asked in another language: tag | english | native
    per_language: int = 2  # GSM-symbolic questions per language
    n: int = 4  # candidates per prompt
    max_new_tokens: int = 16  # tokens per candidate
    temperature: float = 0.8  # sampling temperature
    top_p: float = 0.9  # nucleus sampling
    method: str = "mean"  # calibrator: mean | quantile
    device: str = "auto"  # auto | cpu | cuda
    output_dir: str = "best-of-n-out"  # candidates, calibrator and choices
    seed: int = 0  # sampling and tiny-model seed


def parse_args(argv: list[str] | None = None) -> Args:
    return tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])


def answer_plan(args: Args, language: str) -> list[str]:
    """The language each of a prompt's ``n`` candidates is asked in."""
    if args.answer_languages == "same":
        return [language] * args.n
    codes = args.answer_languages.split(",")
    return [codes[j % len(codes)] for j in range(args.n)]


def sample_candidates(args: Args, rows: list[dict], model, tokenizer) -> list[dict]:
    """Per row, ``n`` sampled answers with the language each was asked in (one ``generate``
    call per requested language of the row)."""
    import torch
    from tqdm.auto import tqdm

    from lrpo.languages import apply_directive

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device).eval()
    torch.manual_seed(args.seed)
    records = []
    for row in tqdm(rows, desc="sampling", unit="prompt"):
        plan = answer_plan(args, row["language"])
        answers: dict[str, list[str]] = {}
        for lang in dict.fromkeys(plan):
            question = row["question"]
            if lang != row["language"]:
                question = apply_directive(question, lang, args.directive)
            ids = tokenizer.apply_chat_template(
                [{"role": "user", "content": question}],
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            ).to(device)
            with torch.inference_mode():
                out = model.generate(
                    **ids,
                    do_sample=True,
                    temperature=args.temperature,
                    top_p=args.top_p,
                    max_new_tokens=args.max_new_tokens,
                    num_return_sequences=plan.count(lang),
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = out[:, ids["input_ids"].shape[1] :]
            answers[lang] = tokenizer.batch_decode(new, skip_special_tokens=True)
        candidates = [answers[lang].pop(0) for lang in plan]
        records.append(
            {
                "id": row["id"],
                "prompt": row["question"],
                "language": row["language"],
                "candidates": candidates,
                "candidate_languages": plan,
            }
        )
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def run_lrpo(argv: list[str]) -> None:
    """Run one ``lrpo`` command, printed first as it would be typed."""
    from lrpo.cli import main

    print("$", shlex.join(["lrpo", *argv]))
    if main(argv) != 0:
        raise RuntimeError(f"lrpo {argv[0]} failed")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = gsm_rows(args.languages.split(","), args.per_language)
    model, tokenizer = load_policy(args.policy, tiny=args.tiny, texts=tiny_texts(rows))
    reward_model = args.reward_model
    if args.tiny:
        reward_model = str(save_tiny_reward_model(tiny_texts(rows), out / "reward-model"))
    groups = sample_candidates(args, rows, model, tokenizer)
    candidates = write_jsonl(out / "candidates.jsonl", groups)
    sample = write_jsonl(
        out / "sample.jsonl",
        [
            {"prompt": g["prompt"], "completion": c, "language": lang}
            for g in groups
            for c, lang in zip(g["candidates"], g["candidate_languages"], strict=True)
        ],
    )
    model_options = ["--reward-model", reward_model, "--device", args.device]
    calibrator, chosen = out / "calibrator.json", out / "best.jsonl"
    # The candidates themselves are the calibration sample: fitting needs no labels.
    run_lrpo(["calibrate-scores", str(sample), "--out", str(calibrator), "--method", args.method,
              *model_options])  # fmt: skip
    run_lrpo(["best-of-n", str(candidates), "--calibrator", str(calibrator), "--out", str(chosen),
              *model_options])  # fmt: skip
    choices = [json.loads(line) for line in chosen.read_text("utf-8").splitlines()]
    kept: dict[str, int] = {}
    for choice in choices:
        kept[choice["chosen_language"]] = kept.get(choice["chosen_language"], 0) + 1
    summary = {
        "seconds": round(time.perf_counter() - start, 2),
        "prompts": len(choices),
        "candidates": sum(len(g["candidates"]) for g in groups),
        "chosen_languages": kept,
        "files": {
            "candidates": str(candidates),
            "calibrator": str(calibrator),
            "best": str(chosen),
        },
    }
    print({k: v for k, v in summary.items() if k != "files"})
    return summary


if __name__ == "__main__":
    main()
