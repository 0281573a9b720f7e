"""recipes/openrlhf/prepare_data.py: prompt fields packed into OpenRLHF's label column."""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from pathlib import Path

import pytest
from test_openrlhf import FILES

from lrpo.labelled.labels import LabelError, unpack_label


@pytest.fixture(scope="module")
def prepare_data():
    spec = importlib.util.spec_from_file_location(
        "openrlhf_prepare_data", FILES / "prepare_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_prepare_data_packs_named_columns(prepare_data, tmp_path):
    rows = [
        {
            "query": "富士山は?",
            "lang": "ja",
            "topic": "Regional Knowledge",
            "area": "Japan",
            "chosen": "3776 m",
            "qid": 17,
        },
        {"query": [{"role": "user", "content": "Hi"}], "lang": "sw", "chosen": "Habari"},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    named = shlex.split(
        "--prompt-column query --language-column lang --theme-column topic --region-column area "
        "--reference-column chosen --id-column qid --theme 'Chat / Conversational'"
    )
    out = tmp_path / "out" / "train.jsonl"
    out = prepare_data.main(["--input", str(source), *named, "--output", str(out)])
    records = read_jsonl(out)
    assert [r["prompt"] for r in records] == [row["query"] for row in rows]
    assert [r["datasource"] for r in records] == ["ja", "sw"]
    first, second = (unpack_label(r["label"]) for r in records)
    assert (first.language, first.themes, first.regions) == (
        "ja",
        ("Regional Knowledge",),
        ("Japan",),
    )
    assert (first.reference, first.group) == ("3776 m", "17")
    assert (second.themes, second.regions) == (("Chat / Conversational",), ())
    assert (second.group, second.route) == ("row-1", True)

    named = shlex.split("--prompt-column query --language-column lang --eval")
    evaluation = prepare_data.main(
        ["--input", str(source), *named, "--output", str(tmp_path / "eval.jsonl")]
    )
    assert [unpack_label(r["label"]).route for r in read_jsonl(evaluation)] == [False, False]


def test_prepare_data_rejects_bad_rows_by_number(prepare_data, tmp_path):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [{"prompt": "a", "language": "de"}, {"prompt": "b", "language": "xx"}],
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(LabelError, match="row 1: invalid packed label"):
        prepare_data.main(["--input", str(source), "--output", str(out)])
    assert not out.exists()  # nothing is written from a bad file
    write_jsonl(source, [{"prompt": "a"}])
    with pytest.raises(ValueError, match="row 0 has no language column 'language'"):
        prepare_data.main(["--input", str(source), "--output", str(out)])
    write_jsonl(source, [{"question": "a", "language": "de"}])
    with pytest.raises(ValueError, match="--prompt-column"):
        prepare_data.main(["--input", str(source), "--output", str(out)])


def test_prepare_data_tiny_is_offline_and_parallel(prepare_data, tmp_path):
    records = read_jsonl(prepare_data.main(["--tiny", "--output", str(tmp_path / "t.jsonl")]))
    labels = [unpack_label(r["label"]) for r in records]
    assert [label.language for label in labels] == ["de"] * 4 + ["ja"] * 4 + ["sw"] * 4
    assert all(label.reference and label.themes == ("Reasoning / Logic",) for label in labels)
    assert len({label.group for label in labels}) == 12
    # The same problems in every language (aligned by the GSM-symbolic item id).
    items = [label.group.split("-")[1] for label in labels]
    assert items[:4] == items[4:8] == items[8:]
