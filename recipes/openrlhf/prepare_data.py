"""Pack each prompt's language, theme, region, reference and group id into OpenRLHF's label column.

OpenRLHF hands an agent or reward file one label string per prompt (``--data.label_key``);
lrpo needs more than one field there, so this script writes them as one packed label
(:func:`lrpo.labelled.labels.pack_label`), checking every row now rather than mid-training.

Offline, with no network (multilingual GSM-symbolic questions and their worked answers):

    python recipes/openrlhf/prepare_data.py --tiny --output data/lrpo_train.jsonl
    python recipes/openrlhf/prepare_data.py --languages de,ja,sw --output data/train.jsonl

Your own prompts, from a JSONL file or a Hugging Face dataset, naming its columns:

    python recipes/openrlhf/prepare_data.py --input prompts.jsonl --prompt-column query \\
        --language-column language --theme-column topic --region-column region \\
        --reference-column chosen --output data/train.jsonl
    python recipes/openrlhf/prepare_data.py --dataset my-org/prompts --split test --eval \\
        --output data/eval.jsonl

``--eval`` marks every label ``route=False``: evaluation samples stay in the prompt's language
and are not reported to the router. Each output line is ``{"prompt", "label", "datasource"}``
(the datasource is the prompt's language, so OpenRLHF's eval metrics come per language); train
with ``--data.input_key prompt --data.label_key label`` and without ``--data.apply_chat_template``
(the agent applies the chat template after adding the language directive).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tyro

from lrpo.labelled.labels import LabelError, pack_label

#: Theme of the GSM-symbolic questions (the LRPO reference's theme names).
GSM_THEME = "Reasoning / Logic"


@dataclass(frozen=True)
class Args:
    output: str  # JSONL file to write
    input: str | None = None  # JSONL file of prompts, one object per line
    dataset: str | None = None  # Hugging Face dataset id (needs `datasets`)
    split: str = "train"  # split of --dataset
    languages: str = "de,ja,sw"  # GSM-symbolic languages (default source: offline questions)
    per_language: int | None = None  # GSM-symbolic questions per language (default: all, ~100)
    tiny: bool = False  # 4 GSM-symbolic questions a language
    prompt_column: str = "prompt"  # column of --input / --dataset: question, or chat messages
    language_column: str = "language"  # column: the prompt's language (absent ones skipped)
    theme_column: str = "theme"  # column: theme, or a list of themes
    region_column: str = "region"  # column: region, or a list
    reference_column: str = "reference"  # column: reference answer
    reference_language_column: str = "reference_language"  # column: the reference's language
    id_column: str = "id"  # column: stable prompt id (the router's group)
    language: str | None = None  # language code of every prompt without one
    theme: str | None = None  # theme of every prompt without one
    eval: bool = False  # evaluation set: never routed


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.input and args.dataset:
        raise SystemExit("error: give --input or --dataset, not both")
    return replace(args, per_language=4) if args.tiny else args


def gsm_rows(languages: list[str], per_language: int | None) -> Iterator[dict[str, Any]]:
    """Parallel GSM-symbolic questions with their worked answers, per language, offline."""
    from lrpo.calibration.data import load_gsm_symbolic

    questions = load_gsm_symbolic(languages, field="question")
    answers = load_gsm_symbolic(languages, field="answer")
    if list(questions.ids) != list(answers.ids) or list(questions.langs) != list(answers.langs):
        raise RuntimeError("GSM-symbolic questions and answers are not aligned item by item")
    taken: dict[str, int] = {}
    for item, lang, question, answer in zip(
        questions.ids.tolist(),
        questions.langs.tolist(),
        questions.texts,
        answers.texts,
        strict=True,
    ):
        taken[lang] = taken.get(lang, 0) + 1
        if per_language is None or taken[lang] <= per_language:
            yield {
                "id": f"gsm-{item}-{lang}",
                "prompt": question,
                "language": lang,
                "theme": GSM_THEME,
                "reference": answer,
            }


def read_rows(args: Args) -> Iterable[Mapping[str, Any]]:
    """The rows of the chosen source."""
    if args.input:
        with Path(args.input).open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    if args.dataset:
        from datasets import load_dataset

        return load_dataset(args.dataset, split=args.split)
    return gsm_rows(args.languages.split(","), args.per_language)


def pack_rows(rows: Iterable[Mapping[str, Any]], args: Args) -> Iterator[dict]:
    """One ``{"prompt", "label", "datasource"}`` record per row; a bad row names its number."""
    for number, row in enumerate(rows):
        if row.get(args.prompt_column) is None:
            raise ValueError(
                f"row {number} has no prompt column {args.prompt_column!r}; "
                f"its columns: {sorted(row)} (set --prompt-column)"
            )
        language = row.get(args.language_column) or args.language
        if language is None:
            raise ValueError(
                f"row {number} has no language column {args.language_column!r} "
                "(set --language-column, or --language for all rows)"
            )
        group = row.get(args.id_column)
        try:
            label = pack_label(
                language=language,
                theme=row.get(args.theme_column) or args.theme,
                region=row.get(args.region_column),
                reference=row.get(args.reference_column),
                reference_language=row.get(args.reference_language_column),
                group=f"row-{number}" if group is None else str(group),
                route=not args.eval,
            )
        except LabelError as error:
            raise LabelError(f"row {number}: {error}") from None
        yield {"prompt": row[args.prompt_column], "label": label, "datasource": language}


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    records = list(pack_rows(read_rows(args), args))  # every row checked before writing
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    print(f"wrote {len(records)} prompts with packed labels to {output}")
    return output


if __name__ == "__main__":
    main()
