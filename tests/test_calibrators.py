"""Tests for lrpo.calibration calibrators: hand values, properties, vectorisation, state,
benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo.calibration import (
    CalibrationTable,
    MeanCalibrator,
    ProbabilityCalibrator,
    Provenance,
    QuantileCalibrator,
)

PROVENANCE = Provenance(source="unit")


def _hand_table() -> CalibrationTable:
    """(en, de): 3 equivalents at 0.9; (de, en): 1 at 0.6; ja has no entry. mu_ref = 0.825."""
    return CalibrationTable.from_scores(
        {
            ("en", "de"): {"equivalent": [0.9, 0.9, 0.9], "mismatch": [0.2, 0.3, 0.5]},
            ("de", "en"): {"equivalent": [0.6], "mismatch": [0.1]},
        },
        embedder="e5",
        languages=["en", "de", "ja"],
        ordered=True,
        provenance=PROVENANCE,
        quantile_levels=(0.0, 0.5, 1.0),
    )


def _quantile_table() -> CalibrationTable:
    """(en, de) pooled 0.2 0.3 0.5 0.8 0.9 -> mixture knots 0.2, 0.5, 0.9; U = 0.895."""
    return CalibrationTable.from_scores(
        {("en", "de"): {"equivalent": [0.8, 0.9], "mismatch": [0.2, 0.3, 0.5]}},
        embedder="e5",
        languages=["en", "de"],
        ordered=True,
        provenance=PROVENANCE,
        quantile_levels=(0.0, 0.5, 1.0),
    )


def _synthetic_table(rng, size=2000, ordered=True) -> tuple[CalibrationTable, dict]:
    """Pair A equivalents ~ N(0.9, 0.05), pair B ~ N(0.7, 0.05); mismatches 0.15 lower."""
    centres = {("en", "de"): 0.9, ("en", "ja"): 0.7}

    def draw():
        return {
            pair: {
                "equivalent": np.clip(rng.normal(c, 0.05, size), -1, 1),
                "mismatch": np.clip(rng.normal(c - 0.15, 0.05, size), -1, 1),
            }
            for pair, c in centres.items()
        }

    table = CalibrationTable.from_scores(
        draw(), embedder="e5", languages=["en", "de", "ja"], ordered=ordered, provenance=PROVENANCE
    )
    return table, draw()


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(positive > negative) by ranks."""
    both = np.concatenate([positive, negative])
    ranks = np.argsort(np.argsort(both, kind="stable"), kind="stable") + 1.0
    n = positive.size
    return (ranks[:n].sum() - n * (n + 1) / 2) / (n * negative.size)


# --------------------------------------------------------------------------- mean
def test_mean_hand_computed():
    calibrator = MeanCalibrator().fit(_hand_table())
    assert calibrator.mu_ref_ == pytest.approx(0.825)
    out = calibrator([0.9, 0.6, 1.0, -1.0], ["en", "de", "de", "en"], ["de", "en", "en", "de"])
    # cal = s - (mu_pair - 0.825); r = (cal + 1) / 2, clipped
    np.testing.assert_allclose(out, [0.9125, 0.9125, 1.0, 0.0], atol=1e-12)


def test_mean_shrinkage():
    calibrator = MeanCalibrator(shrinkage=1.0).fit(_hand_table())
    out = calibrator([0.9, 0.6], ["en", "de"], ["de", "en"])
    # lam = 3/4 -> shift 0.05625 ; lam = 1/2 -> shift -0.1125
    np.testing.assert_allclose(out, [(0.84375 + 1) / 2, (0.7125 + 1) / 2], atol=1e-12)


@pytest.mark.parametrize(
    ("make", "kinds"),
    [
        (MeanCalibrator, {"mismatch": [0.3]}),  # no equivalents
        (ProbabilityCalibrator, {"equivalent": [0.9, 0.8]}),  # no wrong answers
    ],
)
def test_calibrator_refuses_a_table_without_what_it_fits(make, kinds):
    table = CalibrationTable.from_scores(
        {("en", "de"): kinds},
        embedder="e5",
        languages=["en", "de"],
        ordered=True,
        provenance=PROVENANCE,
    )
    with pytest.raises(ValueError, match="no entry with the statistics"):
        make().fit(table)


# ----------------------------------------------------------------------- quantile
def test_quantile_exact_values_at_knots_and_midpoints():
    calibrator = QuantileCalibrator().fit(_quantile_table())
    s = [-1.0, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 0.95, 1.0]
    out = calibrator(s, ["en"] * len(s), ["de"] * len(s))
    np.testing.assert_allclose(out, [0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1], atol=1e-12)


def test_quantile_equivalent_knots_with_ties_are_right_continuous():
    table = CalibrationTable.from_scores(
        {("en", "de"): {"equivalent": [0.5, 0.5, 0.5, 0.9], "mismatch": [0.1]}},
        embedder="e5",
        languages=["en", "de"],
        ordered=True,
        provenance=PROVENANCE,
        quantile_levels=(0.0, 0.25, 0.5, 0.75, 1.0),
    )
    assert table.pair("en", "de").equivalent.knots == (0.5, 0.5, 0.5, 0.6, 0.9)
    calibrator = QuantileCalibrator(knots="equivalent").fit(table)
    out = calibrator([0.49, 0.5, 0.55, 0.6, 0.75], ["en"] * 5, ["de"] * 5)
    np.testing.assert_allclose(out, [0.0, 0.5, 0.625, 0.75, 0.875], atol=1e-12)


def test_quantile_upper_anchor():
    calibrator = QuantileCalibrator(upper_anchor=True).fit(_quantile_table())
    u = 0.895  # 0.95 quantile of the equivalents 0.8, 0.9
    out = calibrator([0.2, 0.5, 0.7, 0.895, 0.9], ["en"] * 5, ["de"] * 5)
    # knots -> 0.2/U, 0.5/U, 1; 0.7/U lies between 0.5/U and 1
    mid = 0.5 + 0.5 * (0.7 / u - 0.5 / u) / (1 - 0.5 / u)
    np.testing.assert_allclose(out, [0.0, 0.5, mid, 1.0, 1.0], atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=40),
    pair=st.sampled_from([("en", "de"), ("de", "en"), ("en", "en"), ("ja", "sw"), ("ja", "de")]),
    anchor=st.booleans(),
    knots=st.sampled_from(["mixture", "equivalent"]),
)
def test_quantile_monotone_and_bounded(scores, pair, anchor, knots):
    calibrator = QuantileCalibrator(upper_anchor=anchor, knots=knots).fit(_hand_table())
    s = np.sort(np.asarray(scores))
    out = calibrator(s, [pair[0]] * s.size, [pair[1]] * s.size)
    assert np.all((out >= 0) & (out <= 1))
    assert np.all(np.diff(out) >= 0)


@settings(max_examples=30, deadline=None)
@given(scores=st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=40), k=st.floats(0, 100))
def test_mean_monotone_and_bounded(scores, k):
    calibrator = MeanCalibrator(shrinkage=k).fit(_hand_table())
    s = np.sort(np.asarray(scores))
    for pair in [("en", "de"), ("de", "en"), ("ja", "sw")]:
        out = calibrator(s, [pair[0]] * s.size, [pair[1]] * s.size)
        assert np.all((out >= 0) & (out <= 1)) and np.all(np.diff(out) >= 0)


# -------------------------------------------------------------------- probability
def _mirrored_table() -> CalibrationTable:
    """(en, de): equivalents 0.7 0.8 0.9, hard negatives and mismatches 0.5 0.6 0.7: mirror
    images around 0.7, with as much weight on each side."""
    wrong = [0.5, 0.6, 0.7]
    return CalibrationTable.from_scores(
        {("en", "de"): {"equivalent": [0.7, 0.8, 0.9], "hard_negative": wrong, "mismatch": wrong}},
        embedder="e5",
        languages=["en", "de"],
        ordered=True,
        provenance=PROVENANCE,
        quantile_levels=(0.0, 0.5, 1.0),
    )


def test_probability_is_the_logistic_fit_of_equivalents_against_wrong_answers():
    calibrator = ProbabilityCalibrator(ridge=1e-3).fit(_mirrored_table())
    p = calibrator([0.6, 0.7, 0.8, 0.75, 0.65], ["en"] * 5, ["de"] * 5)
    # Mirror images around 0.7: the boundary is there, and P(0.7 + d) = 1 - P(0.7 - d).
    assert p[1] == pytest.approx(0.5, abs=1e-9)
    assert p[0] + p[2] == pytest.approx(1.0, abs=1e-9)
    assert p[3] + p[4] == pytest.approx(1.0, abs=1e-9)
    # The optimum of the weighted log-loss plus ridge * a**2 / 2: its gradient vanishes.
    (cell,), _, _ = calibrator.index_.cells(np.array(["en"]), np.array(["de"]))
    a, c = calibrator.slope_[cell], calibrator.intercept_[cell]
    x = np.array([0.7, 0.8, 0.9, 0.5, 0.6, 0.7, 0.5, 0.6, 0.7])
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0])
    w = np.array([1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]) / 3
    residual = w * (1 / (1 + np.exp(-(a * x + c))) - y)
    assert residual.sum() == pytest.approx(0.0, abs=1e-9)
    assert (residual * x).sum() + 1e-3 * a == pytest.approx(0.0, abs=1e-9)
    assert a > 0


def test_probability_ridge_flattens_the_curve():
    steep = ProbabilityCalibrator(ridge=1e-4).fit(_mirrored_table())
    flat = ProbabilityCalibrator(ridge=1e-1).fit(_mirrored_table())
    assert steep([0.85], ["en"], ["de"])[0] > flat([0.85], ["en"], ["de"])[0] > 0.5


@pytest.mark.parametrize("ridge", [0.0, -1.0, float("nan"), "1e-3"])
def test_probability_refuses_a_bad_ridge(ridge):
    with pytest.raises(ValueError, match="ridge"):
        ProbabilityCalibrator(ridge=ridge).fit(_mirrored_table())


@settings(max_examples=30, deadline=None)
@given(
    scores=st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=40),
    pair=st.sampled_from([("en", "de"), ("de", "en"), ("en", "en"), ("ja", "sw"), ("ja", "de")]),
)
def test_probability_monotone_and_bounded(scores, pair):
    calibrator = ProbabilityCalibrator().fit(_hand_table())
    s = np.sort(np.asarray(scores))
    out = calibrator(s, [pair[0]] * s.size, [pair[1]] * s.size)
    assert np.all((out >= 0) & (out <= 1))
    assert np.all(np.diff(out) >= 0)


def test_probability_state_round_trip():
    calibrator = ProbabilityCalibrator(ridge=1e-4).fit(_hand_table())
    state = json.loads(json.dumps(calibrator.state_dict()))
    other = ProbabilityCalibrator(ridge=1e-4).fit(_hand_table())
    other.load_state_dict(state)
    assert other.state_dict() == state and state["params"]["ridge"] == 1e-4
    with pytest.raises(ValueError, match="params"):
        ProbabilityCalibrator().fit(_hand_table()).load_state_dict(state)


# ----------------------------------------------------------------------- property
@pytest.mark.parametrize(
    ("make", "tolerance"),
    [
        (MeanCalibrator, 0.005),  # exact up to sampling: cal mean = mu_ref
        (QuantileCalibrator, 0.03),  # a rank among 4000 offline scores, re-sampled
        (lambda: QuantileCalibrator(upper_anchor=True), 0.03),
        (ProbabilityCalibrator, 0.02),  # the same logistic on both pairs; mean P re-sampled
    ],
)
def test_calibration_aligns_pairs_with_different_offsets(make, tolerance):
    rng = np.random.default_rng(0)
    table, fresh = _synthetic_table(rng)
    calibrator = make().fit(table)
    cal = {}
    for (ref, out), kinds in fresh.items():
        for kind, s in kinds.items():
            cal[ref, out, kind] = calibrator(s, [ref] * s.size, [out] * s.size)
    eq_a, eq_b = cal["en", "de", "equivalent"], cal["en", "ja", "equivalent"]
    mm_a, mm_b = cal["en", "de", "mismatch"], cal["en", "ja", "mismatch"]
    assert abs(eq_a.mean() - eq_b.mean()) < tolerance
    within = (_auc(eq_a, mm_a) + _auc(eq_b, mm_b)) / 2
    pooled = _auc(np.concatenate([eq_a, eq_b]), np.concatenate([mm_a, mm_b]))
    assert pooled > within - 0.01
    raw_pooled = _auc(
        np.concatenate([fresh["en", "de"]["equivalent"], fresh["en", "ja"]["equivalent"]]),
        np.concatenate([fresh["en", "de"]["mismatch"], fresh["en", "ja"]["mismatch"]]),
    )
    assert raw_pooled < within - 0.05  # the raw scores do not separate across pairs


# --------------------------------------------------------------- vectorisation
@pytest.mark.parametrize(
    "calibrator",
    [
        MeanCalibrator(shrinkage=2.0),
        QuantileCalibrator(),
        QuantileCalibrator(upper_anchor=True),
        ProbabilityCalibrator(),
    ],
    ids=repr,
)
def test_mixed_batch_equals_item_by_item(calibrator):
    rng = np.random.default_rng(3)
    table, _ = _synthetic_table(rng, size=50)
    calibrator.fit(table)
    codes = ["en", "de", "ja", "sw", "zh-Hant", "pt-BR"]  # two unknown to the table
    ref = rng.choice(codes, 300)
    out = rng.choice(codes, 300)
    s = rng.uniform(-1, 1, 300)
    s[::17] = np.nan
    batch = calibrator(s, ref.tolist(), out.tolist())
    single = [calibrator([x], [r], [o])[0] for x, r, o in zip(s, ref, out, strict=True)]
    np.testing.assert_array_equal(batch, single)
    assert np.isnan(batch[::17]).all()
    assert not np.isnan(np.delete(batch, slice(None, None, 17))).any()
    assert calibrator.metric_sums().metrics()["calibration/nan_scores"] == 2 * len(s[::17])


def test_float32_rounding_is_clipped_and_empty_batch():
    calibrator = MeanCalibrator().fit(_hand_table())
    assert calibrator([1.0000001], ["en"], ["de"])[0] == pytest.approx((0.925 + 1) / 2)
    assert calibrator([], [], []).shape == (0,)


# ---------------------------------------------------------------------- state
def test_quantile_state_round_trip_leaves_out_monitoring():
    calibrator = QuantileCalibrator().fit(_hand_table())
    calibrator([0.5], ["sw"], ["de"])
    state = json.loads(json.dumps(calibrator.state_dict()))
    assert state["online"] is None and "counters" not in state
    other = QuantileCalibrator().fit(_hand_table())
    other.load_state_dict(state)
    assert other.state_dict() == state
    assert other.metric_sums().metrics()["calibration/scores"] == 0


def test_version_1_state_still_loads():
    """Version 1 also saved the monitoring counters: they are ignored."""
    calibrator = MeanCalibrator(online=5.0).fit(_hand_table())
    calibrator.partial_fit([0.5, 0.7], ["en", "de"], ["de", "de"])
    counters = {
        "n_scores": 3,
        "nan_scores": 0,
        "backoff_counts": {"global": 1},
        "missing_pairs": [["sw", "de", 1]],
        "unknown_languages": {"sw": 1},
    }
    old = {**calibrator.state_dict(), "format_version": 1, "counters": counters}
    restored = MeanCalibrator(online=5.0).fit(_hand_table())
    restored.load_state_dict(old)
    s, ref, out = [0.3, 0.9, 0.7], ["en", "de", "ja"], ["de", "en", "sw"]
    np.testing.assert_array_equal(restored(s, ref, out), calibrator(s, ref, out))
    for version in (0, 3, True, None):
        with pytest.raises(ValueError, match=f"state format {version!r} is not one of"):
            restored.load_state_dict({**old, "format_version": version})


# ------------------------------------------------------------------- benchmark
def test_benchmark_quick_mode(tmp_path, benchmark_module):
    bench = benchmark_module("calibration_throughput")
    output = tmp_path / "calibration_throughput.json"
    results = bench.main(["--quick", "--output", str(output)])
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(results))
    assert saved["settings"]["quick"] is True
    for row in saved["throughput"]:
        assert row["calib/scores_per_s"] > 0 and row["calib/baseline_scores_per_s"] > 0
        assert row["calib/max_abs_diff"] < 1e-9  # the baseline computes the same numbers
        assert 0 < row["calib/reward_call_share"] < 1
    assert set(saved["targets"]) >= {"targets/mean_reward_call_share_met"}
