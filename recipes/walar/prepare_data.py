"""Write WALAR's translation prompts for OpenRLHF: a source text in one language, a target asked.

WALAR trains on monolingual text only: each source text becomes one prompt per target language
("Translate the following text from English into Swahili."), and its reward (``lrpo serve``
with ``reward: {kind: walar}``) scores the translation against the source without a
reference translation. The label carries what the reward needs (packed by
:func:`lrpo.labelled.labels.pack_label`): ``language`` is the target language, ``reference``
the source text, ``reference_language`` its language; ``route=False``, since the prompt already
names its target.

Offline, with no network (the multilingual GSM-symbolic questions as source texts):

    python recipes/walar/prepare_data.py --tiny --output data/walar_tiny.jsonl
    python recipes/walar/prepare_data.py --sources en --targets de,ja,sw \\
        --output data/walar_train.jsonl

Your own monolingual text, a JSONL file with one ``{"text", "language"}`` object per line:

    python recipes/walar/prepare_data.py --input texts.jsonl --targets sw,yo \\
        --output data/walar_train.jsonl

Each output line is ``{"prompt", "label", "datasource"}`` (the datasource is the direction,
``en-sw``, so OpenRLHF's eval metrics come per direction); train with ``--data.input_key prompt
--data.label_key label`` (see README.md). The languages must be among the reward's gate
candidates (``recipes/walar/serve.yaml``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tyro

from lrpo.labelled.labels import pack_label
from lrpo.languages import get_language

#: The instruction of every prompt; WALAR's prompts name both languages.
PROMPT_TEMPLATE = "Translate the following text from {source} into {target}.\n\n{text}"


@dataclass(frozen=True)
class Args:
    output: str  # JSONL file to write
    input: str | None = None  # JSONL of {"text", "language"}; default: GSM-symbolic questions
    sources: str = "en"  # source languages of the offline texts (comma-separated)
    targets: str = "de,ja,sw"  # target languages (comma-separated); a text's own is skipped
    per_language: int | None = None  # offline texts per source language (default: all, 100)
    tiny: bool = False  # 2 offline texts per source language
    text_column: str = "text"  # column of --input holding the source text
    language_column: str = "language"  # column of --input holding its language


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    return replace(args, per_language=2) if args.tiny else args


def gsm_texts(sources: list[str], per_language: int | None) -> Iterator[dict[str, str]]:
    """GSM-symbolic questions as source texts, offline: ``{"id", "text", "language"}``."""
    from lrpo.calibration.data import load_gsm_symbolic

    questions = load_gsm_symbolic(sources, field="question")
    taken: dict[str, int] = {}
    for item, lang, text in zip(
        questions.ids.tolist(), questions.langs.tolist(), questions.texts, strict=True
    ):
        taken[lang] = taken.get(lang, 0) + 1
        if per_language is None or taken[lang] <= per_language:
            yield {"id": f"gsm-{item}", "text": text, "language": lang}


def jsonl_texts(args: Args) -> Iterator[dict[str, Any]]:
    """The texts of ``--input``; a line without a text or a language names its number."""
    with Path(args.input).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            text, language = row.get(args.text_column), row.get(args.language_column)
            if not isinstance(text, str) or not text.strip() or not isinstance(language, str):
                raise ValueError(
                    f"{args.input}:{number}: need a text in {args.text_column!r} and its language "
                    f"code in {args.language_column!r}, got keys {sorted(row)}"
                )
            yield {"id": str(row.get("id", f"line-{number}")), "text": text, "language": language}


def translation_prompts(texts: Iterable[dict[str, Any]], targets: list[str]) -> Iterator[dict]:
    """One ``{"prompt", "label", "datasource"}`` record per (text, target other than its own)."""
    names = {code: get_language(code).name for code in targets}  # unknown codes fail here
    for row in texts:
        source = row["language"]
        source_name = get_language(source).name
        for target in targets:
            if target == source:
                continue
            label = pack_label(
                language=target,
                reference=row["text"],
                reference_language=source,
                group=f"{row['id']}/{source}-{target}",
                route=False,
            )
            prompt = PROMPT_TEMPLATE.format(
                source=source_name, target=names[target], text=row["text"]
            )
            yield {"prompt": prompt, "label": label, "datasource": f"{source}-{target}"}


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    texts = (
        jsonl_texts(args) if args.input else gsm_texts(args.sources.split(","), args.per_language)
    )
    records = list(translation_prompts(texts, args.targets.split(",")))  # all checked first
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    print(f"wrote {len(records)} translation prompts to {output}")
    return output


if __name__ == "__main__":
    main()
