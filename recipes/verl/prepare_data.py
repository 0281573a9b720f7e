"""Write verl parquet files (train and val) whose rows lrpo's agent loop and reward function read.

Offline, from the multilingual GSM-symbolic questions with their worked answers as references
(the same problems in every language; an item is in train or in val in all its languages):

    python recipes/verl/prepare_data.py --output-dir data/lrpo-verl
    python recipes/verl/prepare_data.py --tiny --output-dir /tmp/lrpo-verl   # smoke runs

Your own prompts, from a JSONL file with ``prompt`` (text or chat messages), ``language`` and
``reference``, and optionally ``theme``, ``region``, ``id`` and ``split`` (``train``/``val``):

    python recipes/verl/prepare_data.py --input prompts.jsonl --output-dir data/mine

Every row: ``data_source`` (``<source>/<language>``, so verl's validation metrics come per
language), ``prompt`` (chat messages), ``ability``, ``reward_model`` = ``{"style": "lrpo",
"ground_truth": <packed label>}``, ``extra_info`` = ``{"split", "index", "id"}`` and
``agent_name``. Validation labels say ``route=False``: verl does not tell an agent loop that it
is validating, so that is how evaluation keeps every rollout in the prompt's language.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tyro

from lrpo.labelled.labels import pack_label


@dataclass
class Args:
    output_dir: str = "lrpo-verl-data"  # folder for train.parquet and val.parquet
    tiny: bool = False  # 2 train and 1 val question per language (smoke runs)
    input: str | None = None  # JSONL of your prompts; default: offline GSM-symbolic questions
    languages: str = "de,ja,sw"  # prompt languages of the offline questions (comma-separated)
    train_per_language: int = 80  # offline: questions per language for training
    val_per_language: int = 20  # offline: further questions per language for validation
    theme: str = "Reasoning / Logic"  # theme of rows without one
    ability: str = "math"  # verl's ability column (informative only)
    agent_name: str = "lrpo_agent"  # agent loop of every row (lrpo_agent.yaml)


def parse_args(argv: list[str] | None = None) -> Args:
    return tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])


def verl_row(
    args: Args, record: dict[str, Any], *, index: int, split: str, source: str
) -> dict[str, Any]:
    """One verl row from ``prompt, language, reference[, theme, region, id]``."""
    prompt = record["prompt"]
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    label = pack_label(
        language=record["language"],
        theme=record.get("theme") or args.theme,
        region=record.get("region"),
        reference=record["reference"],
        group=f"{record.get('id', index)}/{record['language']}",  # stable: reruns route alike
        route=split == "train",
    )
    return {
        "data_source": f"{source}/{record['language']}",
        "prompt": messages,
        "ability": args.ability,
        "reward_model": {"style": "lrpo", "ground_truth": label},
        "extra_info": {"split": split, "index": index, "id": str(record.get("id", index))},
        "agent_name": args.agent_name,
    }


def gsm_records(args: Args) -> dict[str, list[dict[str, Any]]]:
    """Offline questions and worked answers, split by problem id into train and val."""
    from lrpo.calibration.data import load_gsm_symbolic

    languages = args.languages.split(",")
    questions = load_gsm_symbolic(languages, field="question")
    answers = load_gsm_symbolic(languages, field="answer")
    n_train, n_val = (2, 1) if args.tiny else (args.train_per_language, args.val_per_language)
    ids = list(dict.fromkeys(questions.ids.tolist()))
    split_of = {item: "train" for item in ids[:n_train]}
    split_of.update({item: "val" for item in ids[n_train : n_train + n_val]})
    records: dict[str, list[dict[str, Any]]] = {"train": [], "val": []}
    rows = zip(questions.ids, questions.langs, questions.texts, answers.texts, strict=True)
    for item, lang, question, answer in rows:
        if item in split_of:
            records[split_of[item]].append(
                {"prompt": question, "language": str(lang), "reference": answer, "id": str(item)}
            )
    return records


def jsonl_records(path: str) -> dict[str, list[dict[str, Any]]]:
    """Rows of a JSONL file, by their ``split`` (default ``train``)."""
    records: dict[str, list[dict[str, Any]]] = {"train": [], "val": []}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            split = record.get("split", "train")
            if split not in records or not {"prompt", "language", "reference"} <= record.keys():
                raise ValueError(
                    f"{path}:{number}: need prompt, language and reference, and split train or "
                    f"val; got keys {sorted(record)} and split {split!r}"
                )
            records[split].append(record)
    return records


def main(argv: list[str] | None = None) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    args = parse_args(argv)
    source = Path(args.input).stem if args.input else "gsm-symbolic"
    records = jsonl_records(args.input) if args.input else gsm_records(args)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, items in records.items():
        if not items:
            continue
        rows = [verl_row(args, r, index=i, split=split, source=source) for i, r in enumerate(items)]
        paths[split] = out / f"{split}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), paths[split])
        counts = Counter(r["language"] for r in items)
        print(f"{paths[split]}: {len(rows)} rows {dict(sorted(counts.items()))}")
    return paths


if __name__ == "__main__":
    main()
