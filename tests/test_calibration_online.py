"""MeanCalibrator's online adjustment (learned from mismatches) and same-language back-off."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrpo.calibration import CalibrationTable, MeanCalibrator, Provenance

PROVENANCE = Provenance(source="unit")


def _table(scores, languages=("en", "de", "ja")) -> CalibrationTable:
    return CalibrationTable.from_scores(
        scores, embedder="e5", languages=languages, ordered=True, provenance=PROVENANCE
    )


def _hand_table() -> CalibrationTable:
    """(en, de): eq 0.9, mismatch 0.6; (en, en): eq 0.96, mismatch 0.7; (de, de): mismatches
    only. mu_ref = (2 * 0.9 + 0.96) / 3 = 0.92."""
    return _table(
        {
            ("en", "de"): {"equivalent": [0.9, 0.9], "mismatch": [0.6]},
            ("en", "en"): {"equivalent": [0.96], "mismatch": [0.7]},
            ("de", "de"): {"mismatch": [0.65]},
        }
    )


def test_same_language_pair_borrows_another_languages_paraphrases():
    calibrator = MeanCalibrator().fit(_hand_table())
    sources = calibrator.pair_sources()
    assert sources["de", "de"] == "same_language"  # not the marginal of translations
    assert sources["ja", "ja"] == "same_language"
    assert sources["ja", "de"] == "marginal"
    # (de, de) takes (en, en)'s mean 0.96: shift 0.04, so 0.96 -> 0.92 -> (0.92 + 1) / 2
    np.testing.assert_allclose(calibrator([0.96], ["de"], ["de"]), [0.96], atol=1e-12)
    metrics = calibrator.metric_sums().metrics()
    assert metrics["calibration/backoff/same_language"] == metrics["calibration/scores"] == 1


def test_online_shift_hand_computed_and_pooled_for_unseen_pairs():
    calibrator = MeanCalibrator(online=2.0).fit(_hand_table())
    with pytest.raises(ValueError, match="online adjustment is off"):
        MeanCalibrator().fit(_hand_table()).partial_fit([0.5], ["en"], ["de"])
    # (en, de) mismatches at 0.5 (offline 0.6): own shift -0.1, pooled -0.1 -> blend -0.1
    calibrator.partial_fit([0.5, 0.5, np.nan], ["en"] * 3, ["de"] * 3)
    assert calibrator.metric_sums().metrics()["calibration/scores"] == 0  # not calibrated
    # offline offsets: (en, de) -0.02, (en, en) +0.04; (en, en) unseen: the pooled -0.1
    np.testing.assert_allclose(
        calibrator([0.8, 0.86], ["en", "en"], ["de", "en"]),
        [(0.8 + 0.02 + 0.1 + 1) / 2, (0.86 - 0.04 + 0.1 + 1) / 2],
        atol=1e-12,
    )


def _pair_draws(rng, size, shift=0.0):
    """(en, de) sits high; (en, ja) 0.2 lower. Hard negatives 0.06 below the equivalents."""
    centres = {("en", "de"): 0.85, ("en", "ja"): 0.65}
    return {
        pair: {
            "equivalent": rng.normal(c + shift, 0.03, size),
            "hard_negative": rng.normal(c - 0.06 + shift, 0.03, size),
            "mismatch": rng.normal(c - 0.2 + shift, 0.03, size),
        }
        for pair, c in centres.items()
    }


def test_online_follows_a_domain_and_keeps_real_differences_between_languages():
    """A new domain lowers (en, ja) by 0.1 and (en, de) not at all, which the offline table
    cannot know. Fed that domain's mismatches, the calibrator gives correct answers the same
    reward in both pairs again. A policy truly worse in ja (half its answers wrong) keeps a
    lower mean reward there: the shift comes from mismatches, not from the policy's scores."""
    rng = np.random.default_rng(1)
    n = 4000
    table = _table(_pair_draws(rng, n))
    domain = _pair_draws(rng, n)
    domain["en", "ja"] = _pair_draws(rng, n, shift=-0.1)["en", "ja"]
    offline, online = MeanCalibrator().fit(table), MeanCalibrator(online=100.0).fit(table)
    for (ref, out), kinds in domain.items():
        online.partial_fit(kinds["mismatch"], [ref] * n, [out] * n)

    def mean_reward(calibrator, pair, scores):
        return calibrator(scores, [pair[0]] * n, [pair[1]] * n).mean()

    de, ja = domain["en", "de"]["equivalent"], domain["en", "ja"]["equivalent"]
    # standard error of a mean of 4000 rewards with std 0.015: 2.4e-4
    assert mean_reward(offline, ("en", "de"), de) - mean_reward(offline, ("en", "ja"), ja) > 0.04
    assert mean_reward(online, ("en", "de"), de) == pytest.approx(
        mean_reward(online, ("en", "ja"), ja), abs=0.003
    )
    worse = np.where(rng.random(n) < 0.5, ja, domain["en", "ja"]["hard_negative"])
    gap = mean_reward(online, ("en", "de"), de) - mean_reward(online, ("en", "ja"), worse)
    assert gap == pytest.approx(0.5 * 0.06 / 2, abs=0.003)  # half the answers 0.06 lower


def test_online_state_round_trip():
    table = _hand_table()
    calibrator = MeanCalibrator(online=5.0).fit(table)
    calibrator.partial_fit([0.5, 0.7, 0.6], ["en", "en", "de"], ["de", "en", "de"])
    state = json.loads(json.dumps(calibrator.state_dict()))
    restored = MeanCalibrator(online=5.0).fit(table)
    restored.load_state_dict(state)
    s, ref, out = [0.3, 0.9, 0.7], ["en", "de", "ja"], ["de", "en", "sw"]
    np.testing.assert_array_equal(restored(s, ref, out), calibrator(s, ref, out))
    with pytest.raises(ValueError, match="params"):
        MeanCalibrator(online=3.0).fit(table).load_state_dict(state)


@pytest.mark.parametrize("online", [0, -1.0, float("inf"), "many"])
def test_invalid_online_fails_at_fit(online):
    with pytest.raises(ValueError, match="online"):
        MeanCalibrator(online=online).fit(_hand_table())
