"""Back-off (which rule serves each pair) and the counts a calibrator logs of it."""

from __future__ import annotations

import numpy as np
import pytest
from test_calibrators import PROVENANCE, _hand_table

from lrpo.calibration import CalibrationTable, MeanCalibrator, QuantileCalibrator
from lrpo.metrics import MetricSums


def _counted(calibrator, prefix: str) -> dict[str, float]:
    """The nonzero logged metrics under ``calibration/<prefix>/``, keyed by what follows."""
    metrics = calibrator.metric_sums().metrics()
    start = f"calibration/{prefix}/"
    return {k[len(start) :]: v for k, v in metrics.items() if k.startswith(start) and v}


# -------------------------------------------------------------------- back-off
def test_mean_backoff_rules_and_metrics():
    calibrator = MeanCalibrator().fit(_hand_table())
    sources = calibrator.pair_sources()
    assert sources["en", "de"] == sources["de", "en"] == "exact"
    # (en, en): row(en) = 0.9, col(en) = 0.6, grand 0.825 -> 0.675
    assert sources["en", "en"] == "marginal"
    assert sources["ja", "ja"] == "global"
    assert sources["ja", "de"] == "marginal"  # col(de) = 0.9
    out = calibrator(
        [0.675, 0.9, 0.5, 0.5, 0.4], ["en", "ja", "ja", "sw", "sw"], ["en", "de", "ja", "de", "sw"]
    )
    np.testing.assert_allclose(out, [0.9125, 0.9125, 0.75, 0.7125, 0.7], atol=1e-12)
    assert _counted(calibrator, "backoff") == {"marginal": 3, "global": 2}
    missing = ("en/en", "ja/de", "ja/ja", "sw/de", "sw/sw")
    assert _counted(calibrator, "missing_pair") == dict.fromkeys(missing, 1)
    assert _counted(calibrator, "unknown_language") == {"sw": 2}
    metrics = calibrator.metric_sums().metrics()
    assert metrics["calibration/scores"] == 5 and metrics["calibration/backoff_rate"] == 1.0
    assert metrics["calibration/backoff/reverse"] == 0  # every rule is logged, used or not


def test_reverse_backoff_and_order():
    table = _hand_table()
    calibrator = MeanCalibrator(backoff=("reverse", "marginal", "global")).fit(table)
    assert calibrator.pair_sources()["ja", "en"] == "marginal"
    table = CalibrationTable.from_scores(
        {("en", "de"): {"equivalent": [0.9]}, ("ja", "en"): {"equivalent": [0.7]}},
        embedder="e5",
        languages=["en", "de", "ja"],
        ordered=True,
        provenance=PROVENANCE,
    )
    reverse = MeanCalibrator().fit(table)
    assert reverse.pair_sources()["de", "en"] == "reverse"
    assert reverse.pair_sources()["en", "ja"] == "reverse"
    assert reverse([0.9], ["de"], ["en"])[0] == pytest.approx(reverse([0.9], ["en"], ["de"])[0])
    assert _counted(reverse, "backoff") == {"reverse": 1}
    only_global = MeanCalibrator(backoff=["global"]).fit(table)
    assert only_global.pair_sources()["de", "en"] == "global"
    unordered = MeanCalibrator().fit(
        CalibrationTable.from_scores(
            {("en", "de"): {"equivalent": [0.9]}},
            embedder="e5",
            languages=["en", "de"],
            ordered=False,
            provenance=PROVENANCE,
        )
    )
    assert unordered.pair_sources()["de", "en"] == "exact"


@pytest.mark.parametrize("dtype", [None, "<U40"], ids=["lists", "wide str array"])
def test_codes_of_any_length_and_script(dtype):
    calibrator = MeanCalibrator().fit(_hand_table())
    ref = ["en", "de", "zh-Hant-TW", "é", "e", "eng", ""]
    out = ["de", "en", "de", "de", "de", "de", "de"]
    codes = ref if dtype is None else np.array(ref, dtype=dtype)
    batch = calibrator([0.9, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9], codes, out)
    assert batch[:2].tolist() == pytest.approx([0.9125, 0.9125])
    assert len(set(batch[2:].tolist())) == 1  # every unknown code backs off alike
    unknown = ("zh-Hant-TW", "é", "e", "eng", "")
    assert _counted(calibrator, "unknown_language") == dict.fromkeys(unknown, 1)


# -------------------------------------------------------------------- metrics
def test_metric_sums_of_ranks_merge_into_one_calibrators():
    table = _hand_table()
    rng = np.random.default_rng(5)
    ref = rng.choice(["en", "de", "ja", "sw"], 60)
    out = rng.choice(["en", "de", "ja", "zh-Hant"], 60)
    s = rng.uniform(-1, 1, 60)
    s[::7] = np.nan
    whole = QuantileCalibrator().fit(table)
    whole(s, ref, out)
    ranks = [QuantileCalibrator().fit(table) for _ in range(2)]
    ranks[0](s[:25], ref[:25], out[:25])
    ranks[1](s[25:], ref[25:], out[25:])
    merged = MetricSums.merge(rank.metric_sums() for rank in ranks)
    assert merged.metrics() == whole.metric_sums().metrics()


def test_metric_sums_reset_starts_a_new_window():
    calibrator = MeanCalibrator().fit(_hand_table())
    calibrator([0.5, 0.5], ["sw", "en"], ["de", "de"])
    first = calibrator.metric_sums(reset=True).metrics()
    assert first["calibration/scores"] == 2 and first["calibration/missing_pair/sw/de"] == 1
    empty = calibrator.metric_sums().metrics()
    assert empty["calibration/scores"] == 0 and np.isnan(empty["calibration/backoff_rate"])
    assert not any(key.startswith("calibration/missing_pair/") for key in empty)
    calibrator([0.5], ["en"], ["de"])
    assert calibrator.metric_sums().metrics()["calibration/backoff_rate"] == 0.0
