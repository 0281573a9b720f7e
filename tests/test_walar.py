"""WalarReward: WALAR's -25 gate, ``-QE + alpha * F1`` on hand-computed parts (a QE stub with
fixed scores, a WordAligner on a lookup-table encoder), the TRL call, bad input and metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("py3langid")

from _walar_setup import (  # noqa: E402
    ENGLISH_HYPOTHESIS,
    F1,
    SOURCE,
    FixedQE,
    lookup_aligner,
    walar_reward,
)
from test_alignment import ANY_TEXT, GATE, GERMAN  # noqa: E402
from test_qe import PAIRS, score_token, tiny_metricx  # noqa: E402

from lrpo.metrics import Metered, MetricSums  # noqa: E402
from lrpo.rewards import (  # noqa: E402
    WALAR_REASONS,
    LanguageGate,
    MetricXScorer,
    WalarReward,
    WalarRewardConfig,
    walar_metrics,
)


@pytest.fixture(scope="module")
def aligner():
    return lookup_aligner()


def test_hand_computed_rewards_and_the_minus_25_gate(aligner):
    qe = FixedQE({ENGLISH_HYPOTHESIS: 3.0})
    reward = walar_reward(aligner, qe)
    chat = [
        {"role": "user", "content": "Translate."},
        {"role": "assistant", "content": ENGLISH_HYPOTHESIS},
    ]
    completions = [ENGLISH_HYPOTHESIS, GERMAN, "😀", chat]
    result = reward.score(completions, SOURCE, ["en", "en", "en", "en"])
    expected = -3.0 + 20 * F1
    assert result.reward == pytest.approx([expected, -25.0, -25.0, expected])
    assert result.reason.tolist() == ["scored", "gated", "gated", "scored"]
    assert result.gate_reason.tolist() == ["pass", "wrong_language", "no_letters", "pass"]
    assert result.gate.tolist() == [0.0, -25.0, -25.0, 0.0]
    assert result.f1[[0, 3]] == pytest.approx([F1, F1])
    assert result.align_reason.tolist() == ["aligned", "", "", "aligned"]
    np.testing.assert_equal(result.qe, [3.0, np.nan, np.nan, 3.0])
    # Only rollouts in their target language are scored by QE (and aligned).
    assert qe.calls == [(SOURCE, ENGLISH_HYPOTHESIS)] * 2
    assert reward.last_breakdown is result


@pytest.mark.parametrize(("alpha", "qe_score"), [(0.0, 7.5), (5.0, 0.0), (20.0, 25.0)])
def test_alpha_weighs_the_alignment(aligner, alpha, qe_score):
    reward = walar_reward(aligner, FixedQE(default=qe_score), alpha=alpha)
    assert reward.score([ENGLISH_HYPOTHESIS], [SOURCE], "en").reward[0] == pytest.approx(
        -qe_score + alpha * F1
    )


def test_a_hypothesis_without_a_target_span_scores_f1_zero():
    # The reward's gate favours the requested language (margin 100) and passes the German
    # text as English; the aligner's span gate (margin 0) finds no English span in it.
    reward = walar_reward(lookup_aligner(margin=0.0), FixedQE(default=2.0), gate={"margin": 100.0})
    result = reward.score(["Die Katzen und die Hunde."], [SOURCE], ["en"])
    assert result.gate_reason.tolist() == ["pass"]
    assert result.align_reason.tolist() == ["no_target_span"]
    assert (result.f1[0], result.reward[0]) == (0.0, -2.0)
    assert reward.metric_sums().metrics()["walar/align_no_target_span_rate"] == 1.0


def test_the_gate_constants_come_from_the_config(aligner):
    reward = walar_reward(aligner, gate={"match_reward": 1.0, "mismatch_reward": -10.0})
    result = reward.score([ENGLISH_HYPOTHESIS, GERMAN], SOURCE, "en")
    assert result.reward == pytest.approx([1.0 - 5.0 + 20 * F1, -10.0])


def test_trl_calls_it_with_columns(aligner):
    reward = walar_reward(aligner, FixedQE({ENGLISH_HYPOTHESIS: 1.0}))
    assert reward.__name__ == "walar_reward" and isinstance(reward, Metered)
    rewards = reward(
        prompts=["Translate into English: " + SOURCE] * 2,
        completions=[ENGLISH_HYPOTHESIS, GERMAN],
        completion_ids=[[1], [2]],
        source=[SOURCE, SOURCE],
        language=["en", "en"],
        trainer_state=None,
        log_metric=print,
        log_extra=print,
    )
    assert isinstance(rewards, list) and all(isinstance(r, float) for r in rewards)
    assert rewards == pytest.approx([-1.0 + 20 * F1, -25.0])
    # Other column names, as the config names them.
    renamed = walar_reward(aligner, source_columns=("text",), language_columns=("tgt",))
    assert len(renamed(prompts=["p"], completions=[GERMAN], text=[SOURCE], tgt=["de"])) == 1


def test_bad_items_give_nan_with_their_reason(aligner):
    qe = FixedQE({"Die Katzen schlafen.": math.nan})
    reward = walar_reward(aligner, qe)
    reward.metric_sums(reset=True)
    result = reward.score(
        [ENGLISH_HYPOTHESIS, None, "Die Katzen schlafen.", GERMAN],
        [None, SOURCE, "The cats sleep.", "The cats and the dogs."],
        ["en", "en", "de", "de"],
    )
    assert result.reason.tolist() == ["no_source", "no_text", "qe_nan", "scored"]
    assert np.isnan(result.reward[:3]).all() and np.isfinite(result.reward[3])
    assert result.gate_reason.tolist()[:2] == ["", ""]  # not checked without a source or text
    metrics = reward.metric_sums().metrics()
    for name in ("no_source", "no_text", "qe_nan", "scored"):
        assert metrics[f"walar/{name}_rate"] == 0.25
    assert metrics["walar/mean"] == pytest.approx(result.reward[3])  # NaN left out


def test_extra_logs_are_json_safe_per_rollout_values_whose_means_are_rates(aligner):
    reward = walar_reward(aligner, FixedQE({ENGLISH_HYPOTHESIS: 3.0, "Die Katzen.": math.nan}))
    result = reward.score([ENGLISH_HYPOTHESIS, GERMAN, "Die Katzen."], SOURCE, ["en", "en", "de"])
    logs = result.extra_logs()
    assert logs["walar/qe"] == [3.0, 0.0, 0.0]  # NaN (not scored, or QE's NaN) as 0
    assert logs["walar/f1"][1] == 0.0 and logs["walar/f1"][0] == pytest.approx(F1)
    assert logs["walar/gate"] == [0.0, -25.0, 0.0]
    rates = {name: logs[f"walar/{name}_rate"] for name in WALAR_REASONS}
    assert rates == {
        "no_source": [0.0] * 3,
        "no_text": [0.0] * 3,
        "gated": [0.0, 1.0, 0.0],
        "qe_nan": [0.0, 0.0, 1.0],
        "scored": [1.0, 0.0, 0.0],
    }
    metrics = reward.metric_sums().metrics()
    for name, values in rates.items():  # a batch mean of a rate is walar_metrics' rate
        assert np.mean(values) == pytest.approx(metrics[f"walar/{name}_rate"])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r: r(prompts=["p"], completions=["x"], language=["en"]), ValueError, "source"),
        (lambda r: r(prompts=["p"], completions=["x"], source=["s"]), ValueError, "target-lang"),
        (lambda r: r(prompts=["p"], source=["s"], language=["en"]), TypeError, "completions"),
        (lambda r: r.score("x", ["s"], "en"), TypeError, "got one str"),
        (lambda r: r.score(["x", "y"], ["s"], "en"), ValueError, "sources has 1 items"),
        (lambda r: r.score(["x"], None, "en"), ValueError, "sources and languages"),
        (lambda r: r.score(["Hello there."], ["s"], "fr"), ValueError, "neither a candidate"),
    ],
)
def test_bad_calls_are_refused(aligner, call, error, message):
    with pytest.raises(error, match=message):
        call(walar_reward(aligner))


def test_a_qe_scorer_with_the_wrong_number_of_scores_is_refused(aligner):
    class ShortQE(FixedQE):
        def score(self, sources, hypotheses):
            return super().score(sources, hypotheses)[:-1]

    with pytest.raises(ValueError, match="returned 0 scores for 1 pairs"):
        walar_reward(aligner, ShortQE()).score([ENGLISH_HYPOTHESIS], [SOURCE], "en")


@pytest.fixture(scope="module")
def aligner_reward(aligner) -> WalarReward:
    """A reward whose QE scorer gives 4 to every pair."""
    return walar_reward(aligner, FixedQE(default=4.0))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(st.tuples(ANY_TEXT, ANY_TEXT, st.sampled_from(GATE["candidates"])), max_size=6)
)
def test_any_strings_give_one_reward_each(aligner_reward, items):
    reward = aligner_reward
    completions, sources, languages = ([item[i] for item in items] for i in range(3))
    result = reward.score(completions, sources, languages)
    columns = {"source": sources, "language": languages}
    rewards = reward(prompts=[""] * len(items), completions=completions, **columns)
    assert len(rewards) == len(items) == len(result)
    assert set(result.reason) <= {"gated", "scored"}  # str inputs, finite QE: always a reward
    gated = result.reason == "gated"
    assert (result.reward[gated] == -25.0).all()
    scored = result.reward[~gated]
    assert ((scored >= -4.0) & (scored <= -4.0 + 20.0)).all()


def test_metric_sums_merge_and_reset(aligner):
    reward = walar_reward(aligner, FixedQE({ENGLISH_HYPOTHESIS: 3.0}))
    reward.score([ENGLISH_HYPOTHESIS, GERMAN], SOURCE, "en")
    sums = reward.metric_sums(reset=True)
    assert isinstance(sums, MetricSums) and sums.derive is walar_metrics
    metrics = sums.metrics()
    assert metrics["walar/items"] == 2.0
    assert metrics["walar/mean"] == pytest.approx((-3.0 + 20 * F1 - 25.0) / 2)
    assert (metrics["walar/qe_mean"], metrics["walar/f1_mean"]) == pytest.approx((3.0, F1))
    assert (metrics["walar/gated_rate"], metrics["walar/scored_rate"]) == (0.5, 0.5)
    assert metrics["walar/align_aligned_rate"] == 1.0
    assert {f"walar/{name}_rate" for name in WALAR_REASONS} <= set(metrics)
    assert MetricSums.merge([sums, sums]).metrics() == pytest.approx(metrics | {"walar/items": 4.0})
    assert math.isnan(reward.metric_sums().metrics()["walar/mean"])  # reset worked


def test_with_the_metricx_scorer_the_reward_is_minus_its_score_plus_alpha_f1(aligner):
    model, tokenizer = tiny_metricx()
    qe = MetricXScorer(model, tokenizer, score_token=score_token(tokenizer))
    reward = walar_reward(aligner, qe)
    sources = [SOURCE, PAIRS[0][0]]
    hypotheses = [ENGLISH_HYPOTHESIS, PAIRS[0][1]]
    result = reward.score(hypotheses, sources, ["en", "de"])
    expected_qe = qe.score(sources, hypotheses)
    np.testing.assert_allclose(result.qe, expected_qe, atol=1e-5)
    np.testing.assert_allclose(result.reward, -expected_qe + 20 * result.f1, atol=1e-5)
    assert result.reason.tolist() == ["scored", "scored"]
    assert expected_qe.min() > 0 and expected_qe.max() < 25


def test_config_defaults_are_walar():
    config = WalarRewardConfig()
    assert (config.alpha, config.qe_max_length, config.qe_tokenizer) == (
        20.0,
        1536,
        "google/mt5-xl",
    )
    gate = config.gate
    assert (gate.mode, gate.match_reward, gate.mismatch_reward) == ("additive", 0.0, -25.0)
    # A gate dict keeps WALAR's values for the keys it leaves out.
    assert WalarRewardConfig(gate={"candidates": ["de", "en"]}).gate.mismatch_reward == -25.0
    assert config.alignment.layer == 24 and config.alignment.threshold == 1e-3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"gate": {"mode": "hard", "match_reward": 1.0, "mismatch_reward": 0.0}}, "additive"),
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": math.inf}, "alpha"),
        ({"qe_batch_size": 0}, "qe_batch_size"),
        ({"source_columns": ()}, "source_columns"),
        ({"language_columns": ("",)}, "language_columns"),
        ({"beta": 1.0}, "Extra inputs"),
    ],
)
def test_bad_configuration_is_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        WalarRewardConfig(**settings)


def test_a_missing_qe_checkpoint_names_the_fix(aligner, tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(OSError, match="pass a loaded model and tokenizer"):
        WalarReward({"gate": GATE, "qe_model": missing, "qe_tokenizer": missing}, aligner=aligner)


def test_bad_components_are_refused(aligner):
    with pytest.raises(TypeError, match="mode='additive'"):
        WalarReward({"gate": GATE}, qe=FixedQE(), aligner=aligner, gate=LanguageGate(**GATE))
    with pytest.raises(TypeError, match="score"):
        WalarReward({"gate": GATE}, qe=object(), aligner=aligner)
    with pytest.raises(TypeError, match="WalarRewardConfig or a dict"):
        WalarReward("walar.json", qe=FixedQE(), aligner=aligner)
