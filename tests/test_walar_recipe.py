"""recipes/walar/prepare_data.py: translation prompts whose packed labels carry WALAR's source
and target language, offline, scored by ``lrpo serve`` as they are written."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import httpx
import pytest
from _walar_setup import FixedQE, lookup_aligner, walar_reward

from lrpo.labelled.labels import unpack_label
from lrpo.languages import UnknownLanguageError
from lrpo.reward_server import ServeConfig, background_server, create_app

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "walar"


@pytest.fixture(scope="module")
def prepare():
    spec = importlib.util.spec_from_file_location("walar_prepare_data", RECIPE / "prepare_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_tiny_writes_one_prompt_per_text_and_target_offline(prepare, tmp_path):
    output = prepare.main(["--tiny", "--targets", "de,ja", "--output", str(tmp_path / "t.jsonl")])
    records = read(output)
    assert [r["datasource"] for r in records] == ["en-de", "en-ja"] * 2  # 2 texts x 2 targets
    first = records[0]
    label = unpack_label(first["label"])
    assert (label.language, label.reference_language, label.route) == ("de", "en", False)
    assert first["prompt"].startswith("Translate the following text from English into German.")
    assert first["prompt"].endswith("\n\n" + label.reference)
    assert len({unpack_label(r["label"]).group for r in records}) == 4


def test_the_prepared_labels_reach_walars_reward_through_lrpo_serve(prepare, tmp_path):
    records = read(prepare.main(["--tiny", "--targets", "de", "--output", str(tmp_path / "t")]))
    source = unpack_label(records[0]["label"]).reference
    qe = FixedQE(default=4.0)
    reward = walar_reward(lookup_aligner(), qe)
    app = create_app(ServeConfig(reward={"kind": "walar"}, batch_wait_ms=0.0), reward=reward)
    prompt = records[0]["prompt"]
    body = {"query": [prompt + source], "prompts": [prompt], "labels": [records[0]["label"]]}
    with background_server(app) as url:
        result = httpx.post(url + "/get_reward", json=body, timeout=30).json()
    # Copying the English source instead of translating it into German: the -25 gate.
    assert result["rewards"] == [-25.0] and qe.calls == []


def test_own_texts_keep_their_language_and_skip_it_as_a_target(prepare, tmp_path):
    texts = tmp_path / "texts.jsonl"
    rows = [
        {"text": "Die Katze schläft.", "language": "de", "id": "k"},
        {"text": "Hi.", "language": "en"},
    ]
    texts.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    records = read(
        prepare.main(["--input", str(texts), "--targets", "de,sw", "--output", str(output)])
    )
    assert [r["datasource"] for r in records] == ["de-sw", "en-de", "en-sw"]
    assert unpack_label(records[0]["label"]).group == "k/de-sw"


@pytest.mark.parametrize(
    ("row", "targets", "error", "message"),
    [
        ({"language": "de"}, "sw", ValueError, r"texts\.jsonl:1: need a text in 'text'"),
        ({"text": "Hallo", "language": 3}, "sw", ValueError, "its language"),
        ({"text": "Hallo", "language": "de"}, "xx", UnknownLanguageError, "xx"),
    ],
)
def test_bad_input_names_the_line_or_the_code(prepare, tmp_path, row, targets, error, message):
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps(row) + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    with pytest.raises(error, match=message):
        prepare.main(["--input", str(texts), "--targets", targets, "--output", str(output)])
    assert not output.exists()  # nothing written before every row is checked
