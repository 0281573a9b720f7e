"""Tests for lrpo.calibration.table: exact statistics and the JSON round trip.

Every refusal is in test_calibration_invalid_inputs.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrpo.calibration import CalibrationTable, Provenance

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
