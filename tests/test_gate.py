"""Tests for lrpo.rewards.gate, .lid and .scripts with the real backends (no mocks)."""

import functools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lrpo.languages import UnknownLanguageError
from lrpo.rewards import GateConfig, LanguageGate, backend_languages, clean_texts, make_backend
from lrpo.rewards.lid import _NaiveBayesBackend

pytest.importorskip("py3langid")

GERMAN = "Die Antwort ist zweiundvierzig, weil wir zuerst die Äpfel zählen und dann addieren."
ENGLISH = "The answer is forty-two because we first count the apples and then add them."
JAPANESE = "これはとてもおいしいりんごです。わたしはまいにちたべます。"  # kana, no kanji
CHINESE = "这是一个很好的问题。我们先计算苹果的数量，然后把它们加起来。"
HINDI = "इसलिए उत्तर बयालीस है और यह बिल्कुल सही है।"
MIXED_HINDI = "The answer is simple because we add the numbers first. इसलिए उत्तर बयालीस है।"
TIBETAN = "བོད་ནི་ཨེ་ཤ་ཡའི་དབུས་སུ་ཡོད་པའི་ས་མཐོ་ཤོས་ཀྱི་ས་ཁུལ་ཞིག་ཡིན།"
CODE_AND_GERMAN = (
    "```python\ndef add(numbers):\n    total = 0\n    for number in numbers:\n"
    "        total += number\n    return total\n```\n"
    "Die Funktion addiert alle Zahlen der Liste und gibt die Summe zurück."
)
CANDIDATES = ("de", "en", "fr", "hi", "ja", "ko", "ru", "zh")


@functools.cache
def gate(**settings) -> LanguageGate:
    """Gates are slow to build (model load): one per distinct setting, shared."""
    return LanguageGate(**{"candidates": CANDIDATES, **settings})


# ------------------------------------------------------------------ hard gate cases
@pytest.mark.parametrize("backend", ["py3langid", "langid"])
@pytest.mark.parametrize(
    ("text", "code"),
    [(GERMAN, "de"), (ENGLISH, "en"), (JAPANESE, "ja"), (CHINESE, "zh"), (HINDI, "hi"),
     ("Это правильный ответ на вопрос.", "ru"), ("이것은 정답입니다. 사과를 세어 보세요.", "ko"),
     ("La réponse est quarante-deux, car nous comptons les pommes.", "fr")],
)  # fmt: skip
def test_correct_language_passes(backend, text, code):
    result = gate(backend=backend).check([text], [code])
    assert result.value.tolist() == [1.0]
    assert result.reason.tolist() == ["pass"]
    assert result.detected.tolist() == [code]
    assert result.script_share[0] == 1.0
    assert 0.5 < result.confidence[0] <= 1.0


@pytest.mark.parametrize("backend", ["py3langid", "langid"])
def test_wrong_language_fails(backend):
    result = gate(backend=backend).check([GERMAN, ENGLISH, CHINESE], ["en", "de", "ja"])
    assert result.value.tolist() == [0.0, 0.0, 0.0]
    assert result.reason.tolist() == ["wrong_language"] * 3
    assert result.detected.tolist() == ["de", "en", "zh"]


def test_japanese_kana_passes_for_ja_and_fails_for_zh():
    result = gate().check([JAPANESE, JAPANESE], ["ja", "zh"])
    assert result.value.tolist() == [1.0, 0.0]
    assert result.script_share.tolist() == [1.0, 0.0]  # kana are not Han
    # Even a detector that cannot say Japanese is caught by the script check.
    no_ja = gate(candidates=("zh", "en"))
    result = no_ja.check([JAPANESE], "zh")
    assert result.detected.tolist() == ["zh"]
    assert result.reason.tolist() == ["mixed_script"]
    assert result.value.tolist() == [0.0]


def test_code_mixed_hindi_fails_the_script_threshold():
    result = gate().check([MIXED_HINDI, HINDI], "hi")
    assert result.detected.tolist() == ["hi", "hi"]  # top-1 alone would pass it
    assert result.script_share[0] < 0.5
    assert result.reason.tolist() == ["mixed_script", "pass"]
    assert result.value.tolist() == [0.0, 1.0]


def test_code_blocks_inline_code_and_maths_are_ignored():
    texts = [CODE_AND_GERMAN, "Rechne `sum(x) / len(x)` aus: das Ergebnis ist $\\boxed{42}$."]
    result = gate().check(texts, "de")
    assert result.reason.tolist() == ["pass", "pass"]
    assert result.script_share.tolist() == [1.0, 1.0]
    assert clean_texts([CODE_AND_GERMAN])[0].startswith("Die Funktion")
    # An unclosed fence (a truncated rollout) runs to the end of its own text only.
    assert clean_texts(["Hallo ```py\nx = 1", "Welt"]) == ["Hallo", "Welt"]


def test_no_language_texts_fail_and_are_counted():
    g = LanguageGate(candidates=("de", "en"))
    texts = ["", "   \n\t ", "42", "#### 1,234.5 + (17 * 3) = ?!", "```\nprint('hi')\n```", GERMAN]
    result = g.check(texts, "de")
    assert result.reason.tolist() == ["empty", "empty", "no_letters", "no_letters", "empty", "pass"]
    assert result.value.tolist() == [0.0] * 5 + [1.0]
    assert result.detected.tolist() == [None] * 5 + ["de"]
    assert np.isnan(result.confidence[:5]).all()
    assert g.counts == {"checked": 6, "empty": 3, "no_letters": 2, "wrong_language": 0,
                        "mixed_script": 0, "pass": 1}  # fmt: skip
    metrics = g.metrics()
    assert metrics["gate/pass_rate"] == pytest.approx(1 / 6)
    assert metrics["gate/empty_rate"] == pytest.approx(0.5)
    assert metrics["gate/checked"] == 6.0
    g.reset_counts()
    assert math.isnan(g.metrics()["gate/pass_rate"])


def test_min_letter_share_is_configurable():
    text = "x = 1234567890 1234567890"  # 1 letter in 22 visible characters
    assert gate().check([text], "en").reason.tolist() == ["no_letters"]
    assert gate(min_letter_share=0.0).check([text], "en").reason.tolist() != ["no_letters"]


# ------------------------------------------------------------------ Tibetan (script only)
@pytest.mark.parametrize("backend", ["py3langid", "langid"])
def test_tibetan_is_gated_by_script_alone(backend):
    g = LanguageGate(backend=backend)
    assert "bo" not in backend_languages(backend)
    assert g.script_only == ("bo",)
    result = g.check(
        [TIBETAN, ENGLISH, TIBETAN, TIBETAN[:20] + " " + ENGLISH], ["bo", "bo", "zh", "bo"]
    )
    assert result.detected.tolist()[:2] == ["bo", None]
    assert result.reason.tolist() == ["pass", "wrong_language", "wrong_language", "wrong_language"]
    assert result.value.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert np.isnan(result.confidence[0])  # no detector was asked


def test_candidates_the_backend_cannot_detect_are_refused():
    with pytest.raises(ValueError, match=r"cannot detect \['bo'\]"):
        LanguageGate(candidates=("en", "bo"))
    with pytest.raises(ValueError, match=r"'langid' cannot detect \['ha', 'yo'\]"):
        LanguageGate(backend="langid", candidates=("en", "ha", "yo"))
    with pytest.raises(
        ValueError, match=r"script-only language 'ha' shares script\(s\) \['Latn'\]"
    ):
        LanguageGate(backend="langid", candidates=("en", "de"), script_only=("ha",))
    # langid lacks Hausa; the default gate then cannot check it, and says so.
    with pytest.raises(ValueError, match="'ha' is neither a candidate nor script-only"):
        LanguageGate(backend="langid").check(["Ina kwana?"], "ha")


# ------------------------------------------------------------------ modes by hand
def test_soft_mode_is_script_share_when_the_language_matches():
    result = gate(mode="soft").check([MIXED_HINDI, HINDI, GERMAN, ""], ["hi", "hi", "en", "en"])
    hard = gate().check([MIXED_HINDI], "hi")
    assert result.value[0] == pytest.approx(hard.script_share[0])
    assert 0.0 < result.value[0] < 0.5
    assert result.value[1:].tolist() == [1.0, 0.0, 0.0]
    assert result.reason.tolist() == ["mixed_script", "pass", "wrong_language", "empty"]


def test_additive_mode_returns_a_bonus_or_a_penalty():
    g = gate(mode="additive", match_reward=0.5, mismatch_reward=-25.0)
    result = g.check([GERMAN, ENGLISH, MIXED_HINDI, "  "], ["de", "de", "hi", "de"])
    assert result.value.tolist() == [0.5, -25.0, -25.0, -25.0]
    assert gate(mode="additive").check([GERMAN, ENGLISH], "de").value.tolist() == [1.0, 0.0]


def test_requested_language_may_differ_per_item_and_result_is_positional():
    texts = [GERMAN, JAPANESE, ENGLISH, CHINESE, HINDI] * 3
    requested = ["de", "ja", "en", "zh", "hi"] * 3
    result = gate().check(texts, requested)
    assert result.passed.all()
    assert result.detected.tolist() == requested


def test_threshold_zero_reproduces_the_reference_rule():
    result = gate(script_threshold=0.0).check([MIXED_HINDI], "hi")
    assert result.value.tolist() == [1.0]  # detected == requested is all the reference asks


# ------------------------------------------------------------------ backends
@pytest.mark.parametrize("backend", ["py3langid", "langid"])
def test_batched_detection_matches_the_library_classify(backend):
    candidates = [c for c in (*CANDIDATES, "es", "sr", "sw") if c in backend_languages(backend)]
    texts = [GERMAN, ENGLISH, JAPANESE, CHINESE, HINDI, MIXED_HINDI, "", "12345", "HELLO WORLD",
             "Сербија је лепа. Srbija je lepa.", GERMAN * 40, "x", "¿Qué?"]  # fmt: skip
    batched = _NaiveBayesBackend(backend, candidates)
    per_text = _NaiveBayesBackend(backend, candidates, vectorized=False)
    assert batched._vectorized and not per_text._vectorized
    codes, confidence = batched.detect(texts)
    expected_codes, expected_confidence = per_text.detect(texts)
    assert codes.tolist() == expected_codes.tolist()
    np.testing.assert_allclose(confidence, expected_confidence, rtol=1e-4, atol=1e-6)


def test_lingua_backend_and_fallback():
    pytest.importorskip("lingua")
    backend = make_backend("lingua", ["de", "en", "ja"])
    assert backend.detect([GERMAN, JAPANESE])[0].tolist() == ["de", "ja"]
    g = LanguageGate(candidates=("de", "en", "ja"), fallback_backend="lingua", fallback_below=1.0)
    assert g.check([GERMAN, ENGLISH, JAPANESE], ["de", "en", "ja"]).passed.all()


# ------------------------------------------------------------------ invalid inputs
@pytest.mark.parametrize(
    ("settings", "message"),
    [({"mode": "fuzzy"}, "mode"), ({"backend": "fasttext"}, "backend"),
     ({"candidates": ("en", "xx")}, "unknown language code 'xx'"),
     ({"candidates": ("en", "en")}, "duplicate"), ({"script_threshold": 1.5}, "less than"),
     ({"min_letter_share": -0.1}, "greater than"), ({"colour": "red"}, "Extra inputs"),
     ({"match_reward": 2.0}, "additive. only"), ({"fallback_backend": "py3langid"}, "itself"),
     ({"candidates": ("en", "ja"), "script_only": ("ja",)}, "both")],
)  # fmt: skip
def test_bad_configuration_is_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        GateConfig(**settings)


def test_bad_requests_are_refused():
    g = gate()
    with pytest.raises(UnknownLanguageError, match="'xx'"):
        g.check([GERMAN], ["xx"])
    with pytest.raises(ValueError, match=r"'EN'.*did you mean 'en'"):
        g.check([GERMAN], "EN")
    with pytest.raises(ValueError, match="'sv' is neither a candidate"):
        g.check([GERMAN], "sv")
    with pytest.raises(ValueError, match="2 texts but 1 requested"):
        g.check([GERMAN, ENGLISH], ["de"])
    with pytest.raises(ValueError, match="either a GateConfig or keyword"):
        LanguageGate(GateConfig(), mode="soft")
    with pytest.raises(ValueError, match="unknown backend 'fasttext'"):
        make_backend("fasttext", ["en"])


# ------------------------------------------------------------------ properties
_ALPHABET = st.sampled_from(
    list("abcxyz äöü 日本語かなカナ한국어 हिंदी русский 0123456789 .,!?`$\\\n")
)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(_ALPHABET, max_size=40) | st.text(max_size=20), min_size=1,
                      max_size=6),
       requested=st.sampled_from(CANDIDATES), mode=st.sampled_from(["hard", "soft"]))  # fmt: skip
def test_shares_and_values_stay_in_the_unit_interval(texts, requested, mode):
    result = gate(mode=mode).check(texts, requested)
    for values in (result.script_share, result.letter_share, result.value):
        assert values.shape == (len(texts),)
        assert ((values >= 0.0) & (values <= 1.0)).all()
    assert set(result.reason.tolist()) <= {"empty", "no_letters", "wrong_language",
                                           "mixed_script", "pass"}  # fmt: skip
    assert (result.value[~result.passed & (result.reason != "mixed_script")] == 0.0).all()


# ------------------------------------------------------------------ benchmark
def test_benchmark_quick_mode_writes_json(tmp_path, benchmark_module):
    bench = benchmark_module("gate_accuracy")
    output = tmp_path / "gate_accuracy.json"
    results = bench.main(["--quick", "--backends", "py3langid", "--output", str(output)])
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(results))
    assert saved["settings"]["quick"] is True
    report = saved["backends"][0]
    assert report["detect/batched_agrees_with_per_text"] == 1.0
    assert report["gate/texts_per_s"] > 0
    assert report["gate/accuracy_by_kind"]["mismatch"] >= 0.9
    assert set(report["per_language"]) >= {"de", "en", "ja", "zh", "bo"}
