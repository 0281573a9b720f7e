"""Parallel data from gettext catalogues: cleaning, paraphrases, splits, reserved catalogues."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lrpo.calibration.catalogues import domain_split, is_genuine, load_gettext, read_catalogues
from lrpo.calibration.data import load_corpus


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo file (the format gettext reads): header, two offset tables, the strings."""
    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **messages}.items())
    ids = [key.encode() for key, _ in entries]
    strs = [value.encode() for _, value in entries]
    start = 7 * 4 + 16 * len(entries)
    offsets, blob = [], b""
    for text in ids + strs:
        offsets.append((len(text), start + len(blob)))
        blob += text + b"\0"
    n = len(entries)
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    table = b"".join(struct.pack("<2I", *pair) for pair in offsets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + table + blob)


def _domains(split: str, count: int) -> list[str]:
    return [f"app{i}" for i in range(200) if domain_split(f"app{i}") == split][:count]


@pytest.fixture
def root(tmp_path) -> Path:
    first, second = _domains("dev", 2)
    held = _domains("test", 1)[0]
    save = "Save the current file now"
    write_mo(
        tmp_path / f"de/LC_MESSAGES/{first}.mo",
        {
            save: "_Aktuelle Datei jetzt speichern",
            "Open a new window here": "Neues Fenster hier öffnen",
            "OK": "OK",
            "Quit the application now": "Quit the application now",
        },
    )
    write_mo(tmp_path / f"de/LC_MESSAGES/{second}.mo", {save: "Die aktuelle Datei jetzt sichern"})
    write_mo(tmp_path / f"ja/LC_MESSAGES/{first}.mo", {save: "現在のファイルを今すぐ保存"})
    write_mo(tmp_path / f"zh_TW/LC_MESSAGES/{first}.mo", {save: "立即儲存目前的檔案"})
    write_mo(
        tmp_path / f"de/LC_MESSAGES/{held}.mo", {"Close every open tab": "Alle Tabs schließen"}
    )
    write_mo(tmp_path / "django/de/LC_MESSAGES/django.mo", {save: "Reserviert"})
    return tmp_path


def test_messages_paraphrases_and_cleaning(root):
    corpus = load_gettext(["en", "de", "ja", "zh"], roots=[root, root / "django"])
    rows = set(zip(corpus.ids.tolist(), corpus.langs.tolist(), corpus.texts, strict=True))
    save = "Save the current file now"
    assert (save, "en", save) in rows
    assert (save, "de", "Aktuelle Datei jetzt speichern") in rows  # mnemonic removed
    assert (save, "de", "Die aktuelle Datei jetzt sichern") in rows  # a paraphrase: 2nd domain
    assert (save, "ja", "現在のファイルを今すぐ保存") in rows
    assert "zh" not in corpus.languages  # zh_TW is Traditional: not zh's usual script
    assert not any(text == "Reserviert" for text in corpus.texts)  # Django is never read
    assert "OK" not in corpus.ids  # fewer than 3 words
    assert "Quit the application now" not in corpus.ids  # untranslated
    assert "Close every open tab" not in corpus.ids  # a test-split domain
    assert corpus.source == "gettext:dev"


def test_splits_and_subsets_select_the_same_messages(root):
    held = load_gettext(["en", "de"], split="test", roots=[root])
    assert set(held.ids) == {"Close every open tab"}
    assert len(load_gettext(["de"], split="all", roots=[root]).texts) == 4
    one = load_gettext(["en", "de"], max_items=1, roots=[root])
    both = load_gettext(["en", "de", "ja"], max_items=1, roots=[root])
    assert set(one.ids) == set(both.ids) == {"Save the current file now"}  # paraphrased first


def test_no_catalogue_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no gettext catalogue"):
        load_gettext(["en", "de"], roots=[tmp_path])


def test_read_catalogues_yields_cleaned_pairs(root):
    found = list(read_catalogues("dev", ["de"], [root]))
    assert all(lang == "de" for _, lang, _, _ in found)
    assert ("Open a new window here", "Neues Fenster hier öffnen") in {
        (s, t) for _, _, s, t in found
    }


@pytest.mark.parametrize(
    ("text", "code", "source", "genuine"),
    [
        ("Datei speichern", "de", "Save file", True),
        ("Save file", "de", "Save file", False),
        ("Save ファイル file", "ja", "Save file", False),
        ("ファイルを保存", "ja", "Save file", True),
        ("42", "en", "", False),
    ],
)
def test_is_genuine(text, code, source, genuine):
    assert is_genuine(text, code, source) is genuine


def test_joined_specs_keep_items_apart(root, monkeypatch):
    import lrpo.calibration.catalogues as catalogues

    monkeypatch.setattr(catalogues, "catalogue_roots", lambda: [root])
    corpus = load_corpus("gettext+gettext:test", ["en", "de"])
    assert {i.split("|")[0] for i in corpus.ids} == {"gettext", "gettext:test"}
    assert corpus.source == "gettext:dev+gettext:test"
