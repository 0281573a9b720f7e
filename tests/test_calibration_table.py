"""Tests for lrpo.calibration.table: exact statistics, JSON round trip, and every refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrpo.calibration import CalibrationTable, KindStats, PairStats, Provenance

LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _table(ordered: bool = True, **overrides) -> CalibrationTable:
    scores = {
        ("en", "de"): {
            "equivalent": [0.5, 0.6, 0.7, 0.8, 0.9],
            "mismatch": [0.1, 0.2, 0.3],
        },
        ("de", "en"): {"equivalent": [0.4, 0.8], "hard_negative": np.array([0.3])},
        ("en", "en"): {"mismatch": [0.2, 0.4], "equivalent": []},
    }
    settings = {
        "embedder": "e5-small@abc",
        "languages": ["en", "de", "ja"],
        "ordered": ordered,
        "provenance": Provenance(source="unit", sizes={"items": 3}, seed=1, command="pytest"),
        "quantile_levels": LEVELS,
    }
    return CalibrationTable.from_scores(scores, **{**settings, **overrides})


def test_from_scores_exact_statistics():
    table = _table()
    entry = table.pair("en", "de")
    eq = entry.equivalent
    assert eq.count == 5
    assert eq.mean == pytest.approx(0.7, abs=1e-15)
    assert eq.std == pytest.approx(np.sqrt(0.02), abs=1e-15)  # population std of 0.5..0.9
    np.testing.assert_allclose(eq.knots, [0.5, 0.6, 0.7, 0.8, 0.9], atol=1e-15)
    mm = entry.mismatch
    assert (mm.count, mm.mean) == (3, pytest.approx(0.2))
    np.testing.assert_allclose(mm.knots, [0.1, 0.15, 0.2, 0.25, 0.3], atol=1e-15)
    assert entry.hard_negative is None
    # pooled 0.1 0.2 0.3 0.5 0.6 0.7 0.8 0.9: linear quantiles at 0, .25, .5, .75, 1
    np.testing.assert_allclose(entry.mixture_knots, [0.1, 0.275, 0.55, 0.725, 0.9], atol=1e-12)
    assert entry.upper_anchor == pytest.approx(0.88)  # 0.95 quantile of the equivalents
    same = table.pair("en", "en")
    assert same.equivalent is None and same.mismatch.count == 2
    assert same.upper_anchor == pytest.approx(0.39)  # no equivalents: pooled scores
    assert table.pair("de", "en").hard_negative.knots == (0.3,) * 5
    assert table.pair("ja", "en") is None
    assert table.provenance.lrpo_version == __import__("lrpo").__version__


def test_unordered_table_pools_both_orders_and_serves_both():
    table = _table(ordered=False)
    entry = table.pair("de", "en")
    assert entry is table.pair("en", "de")
    assert entry.key == ("en", "de")  # stored in the order of `languages`
    assert entry.equivalent.count == 7
    assert entry.hard_negative.count == 1


def test_save_load_round_trip(tmp_path):
    table = _table()
    path = table.save(tmp_path / "table.json")
    loaded = CalibrationTable.load(path, embedder="e5-small@abc")
    assert loaded == table
    assert loaded.pair("en", "de") == table.pair("en", "de")
    assert json.loads(path.read_text())["format_version"] == 1


def _write(tmp_path, mutate) -> str:
    data = _table().model_dump(mode="json")
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return str(path)


def _knots(name, value):
    def mutate(data):
        data["pairs"][0]["equivalent"][name] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_knots("knots", [0.5, float("nan"), 0.7, 0.8, 0.9]), r"\(en, de\).equivalent.knots.*fin"),
        (_knots("knots", [0.5, 0.7, 0.6, 0.8, 0.9]), r"\(en, de\).equivalent.knots.*non-decr"),
        (_knots("knots", [0.5, 0.6, 0.7]), r"\(en, de\).equivalent.knots: 3 knots for 5"),
        (_knots("count", -1), r"\(en, de\).equivalent.count must be >= 1"),
        (_knots("mean", float("inf")), r"\(en, de\).equivalent.mean"),
        (_knots("std", -0.1), r"\(en, de\).equivalent.std"),
        (lambda d: d["pairs"][0].update(ref_lang="sw"), r"\(sw, de\): languages \['sw'\]"),
        (lambda d: d["pairs"][0].update(ref_lang="xx"), r"unknown language code 'xx'"),
        (lambda d: d.update(languages=["en", "EN"]), r"'EN'"),
        (lambda d: d["pairs"][0].update(upper_anchor=0.0), r"upper_anchor must be in \(0, 1\]"),
        (lambda d: d.update(quantile_levels=[0.0, 0.5, 0.4, 0.9, 1.0]), r"quantile_levels"),
        (lambda d: d["pairs"].append(d["pairs"][0]), r"duplicate entry"),
        (lambda d: d.update(format_version=2), r"format_version 2"),
        (lambda d: d.update(extra=1), r"extra"),
    ],
)
def test_load_refuses_invalid_tables(tmp_path, mutate, message):
    with pytest.raises(ValueError, match=message):
        CalibrationTable.load(_write(tmp_path, mutate))


def test_load_refuses_another_embedder(tmp_path):
    path = _table().save(tmp_path / "t.json")
    with pytest.raises(ValueError, match=r"'e5-small@abc'.*'mmbert-small'"):
        CalibrationTable.load(path, embedder="mmbert-small")


def test_load_refuses_truncated_file(tmp_path):
    path = _table().save(tmp_path / "t.json")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        CalibrationTable.load(path)


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ({("en", "de"): {"equivalent": [0.5, 1.2]}}, r"\(en, de\).equivalent.*\[-1, 1\].*1.2"),
        ({("en", "de"): {"mismatch": [-1.5]}}, r"\(en, de\).mismatch"),
        ({("en", "de"): {"equivalent": [np.nan]}}, r"finite"),
        ({("en", "de"): {"equivalent": [], "mismatch": []}}, r"\(en, de\): no scores of any"),
        ({("en", "de"): {}}, r"\(en, de\): no scores of any"),
        ({("en", "de"): {"paraphrase": [0.5]}}, r"unknown kind 'paraphrase'"),
        ({("en", "fr"): {"equivalent": [0.5]}}, r"'fr' not in languages"),
        ({("en", "de"): {"equivalent": [[0.5]]}}, r"1-D"),
    ],
)
def test_from_scores_rejects(scores, message):
    with pytest.raises(ValueError, match=message):
        CalibrationTable.from_scores(
            scores,
            embedder="e5",
            languages=["en", "de"],
            ordered=True,
            provenance=Provenance(source="unit"),
        )


def test_from_scores_clips_float32_rounding():
    table = CalibrationTable.from_scores(
        {("en", "de"): {"equivalent": [1.0000001, -1.0000001]}},
        embedder="e5",
        languages=["en", "de"],
        ordered=True,
        provenance=Provenance(source="unit"),
    )
    assert table.pair("en", "de").equivalent.knots[-1] == 1.0


def test_default_levels_and_models_are_frozen():
    table = _table(quantile_levels=tuple(i / 100 for i in range(101)))
    assert len(table.quantile_levels) == 101
    assert len(table.pair("en", "de").mixture_knots) == 101
    with pytest.raises(ValueError):
        table.pair("en", "de").equivalent.count = 3  # type: ignore[misc]


def test_pair_requires_some_kind():
    with pytest.raises(ValueError, match="at least one of"):
        PairStats(ref_lang="en", out_lang="de", mixture_knots=(0.1,), upper_anchor=0.5)
    stats = KindStats(count=1, mean=0.5, std=0.0, knots=(0.5, 0.5))
    assert PairStats(ref_lang="en", out_lang="de", mismatch=stats, mixture_knots=(0.5, 0.5),
                     upper_anchor=0.5).equivalent is None  # fmt: skip
