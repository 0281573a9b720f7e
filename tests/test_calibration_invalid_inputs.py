"""Every bad input of calibration: a table refused at build or load, naming the file and field;
a calibrator refused at fit, or a batch refused, naming the setting or argument."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_calibration_table import _table
from test_calibrators import _hand_table

from lrpo.calibration import (
    CalibrationTable,
    KindStats,
    MeanCalibrator,
    NotFittedError,
    PairStats,
    Provenance,
    QuantileCalibrator,
)
from lrpo.calibration.entries import MAX_COUNT


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
        # JSON numbers that Python would take for others: clear errors, naming the field
        (lambda d: d.update(format_version=True), r"format_version True; this lrpo reads"),
        (lambda d: d.update(format_version=1.0), r"format_version 1.0; this lrpo reads"),
        (_knots("count", 10**400), r"equivalent.count\n  Input should be less than or equal to"),
        (_knots("count", True), r"equivalent.count\n  Input should be a valid integer"),
        (_knots("count", 5.0), r"equivalent.count\n  Input should be a valid integer"),
        (_knots("mean", "0.7"), r"equivalent.mean\n  Input should be a valid number"),
        (_knots("knots", [0.5, 0.6, True, 0.8, 0.9]), r"equivalent.knots.2\n  Input should be"),
        (lambda d: d.update(ordered=1), r"ordered\n  Input should be a valid boolean"),
        (lambda d: d["provenance"]["sizes"].update(items=10**400), r"sizes.items\n  Input should"),
        (lambda d: d["provenance"]["sizes"].update(items=-1), r"sizes.items\n  Input should"),
        (lambda d: d["provenance"].update(seed=False), r"seed\n  Input should be a valid integer"),
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


def test_pair_requires_some_kind():
    with pytest.raises(ValueError, match="at least one of"):
        PairStats(ref_lang="en", out_lang="de", mixture_knots=(0.1,), upper_anchor=0.5)
    stats = KindStats(count=1, mean=0.5, std=0.0, knots=(0.5, 0.5))
    assert (
        PairStats(
            ref_lang="en", out_lang="de", mismatch=stats, mixture_knots=(0.5, 0.5), upper_anchor=0.5
        ).equivalent
        is None
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 5000 + "]" * 5000, "maximum recursion depth"),  # json.loads: RecursionError
        ('{"format_version": ' + "9" * 5000 + "}", "integer string conversion"),
    ],
)
def test_load_refuses_json_python_cannot_read_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"calibration table {path} cannot be read.*{problem}"):
        CalibrationTable.load(path)


def test_a_count_that_loads_fits():
    """The largest count a table accepts is one the calibrators can weigh with (float64)."""
    stats = KindStats(count=MAX_COUNT, mean=0.5, std=0.0, knots=(0.5,) * 5)
    entry = PairStats(
        ref_lang="en", out_lang="de", equivalent=stats, mixture_knots=(0.5,) * 5, upper_anchor=0.5
    )
    table = _table().model_copy(update={"pairs": (entry,)})
    for calibrator in (MeanCalibrator(), QuantileCalibrator()):
        assert np.isfinite(calibrator.fit(table)([0.5], ["en"], ["de"])).all()


# ------------------------------------------------------------------ calibrators
def test_not_fitted():
    for calibrator in (MeanCalibrator(), QuantileCalibrator()):
        with pytest.raises(NotFittedError, match="not fitted"):
            calibrator([0.5], ["en"], ["de"])
        with pytest.raises(NotFittedError):
            calibrator.state_dict()
        with pytest.raises(NotFittedError, match="call fit"):
            calibrator.check_fitted()
    MeanCalibrator().fit(_hand_table()).check_fitted()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.5, 0.6], ["en"], ["de"]), "same length"),
        (([0.5], ["en"], ["de", "en"]), "same length"),
        (([1.5], ["en"], ["de"]), r"\[-1, 1\], got 1.5 at index 0"),
        (([np.nan, -2.0], ["en", "en"], ["de", "de"]), r"got -2.0 at index 1"),
        (([0.5], ["en"], [None]), "must hold str"),
        (([[0.5]], [["en"]], [["de"]]), "1-D"),
    ],
)
def test_calibrator_refuses_bad_batches(args, message):
    calibrator = QuantileCalibrator().fit(_hand_table())
    with pytest.raises(ValueError, match=message):
        calibrator(*args)


@pytest.mark.parametrize(
    ("calibrator", "message"),
    [
        (MeanCalibrator(shrinkage=-1), "shrinkage"),
        (MeanCalibrator(backoff=["marginal"]), "end with 'global'"),
        (MeanCalibrator(backoff=["pivot", "global"]), "backoff"),
        (QuantileCalibrator(knots="median"), "knots"),
        (QuantileCalibrator(upper_anchor="yes"), "upper_anchor"),
    ],
)
def test_invalid_params_fail_at_fit(calibrator, message):
    with pytest.raises(ValueError, match=message):
        calibrator.fit(_hand_table())
