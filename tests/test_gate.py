"""Tests for lrpo.rewards.gate with the real backends (no mocks)."""

import functools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo.metrics import MetricSums
from lrpo.rewards import REASONS, LanguageGate, backend_languages

pytest.importorskip("py3langid")

GERMAN = "Die Antwort ist zweiundvierzig, weil wir zuerst die Äpfel zählen und dann addieren."
ENGLISH = "The answer is forty-two because we first count the apples and then add them."
JAPANESE = "これはとてもおいしいりんごです。わたしはまいにちたべます。"  # kana, no kanji
CHINESE = "这是一个很好的问题。我们先计算苹果的数量，然后把它们加起来。"
HINDI = "इसलिए उत्तर बयालीस है और यह बिल्कुल सही है।"
TIBETAN = "བོད་ནི་ཨེ་ཤ་ཡའི་དབུས་སུ་ཡོད་པའི་ས་མཐོ་ཤོས་ཀྱི་ས་ཁུལ་ཞིག་ཡིན།"
TWO_ENGLISH = " The answer is forty two. I hope this helps you with the homework."
CODE_AND_GERMAN = (
    "```python\ndef add(numbers):\n    total = 0\n    for number in numbers:\n"
    "        total += number\n    return total\n```\n"
    "Die Funktion addiert alle Zahlen der Liste und gibt die Summe zurück."
)
CANDIDATES = ("de", "en", "fr", "hi", "ja", "ko", "ru", "zh")


@functools.cache
def gate(**settings) -> LanguageGate:
    """Gates load a model: one per distinct setting, shared."""
    return LanguageGate(**{"candidates": CANDIDATES, **settings})


# ------------------------------------------------------------------ right and wrong language
@pytest.mark.parametrize("backend", ["py3langid", "langid", "fasttext", "lingua"])
@pytest.mark.parametrize(
    ("text", "code"),
    [
        (GERMAN, "de"),
        (ENGLISH, "en"),
        (JAPANESE, "ja"),
        (CHINESE, "zh"),
        (HINDI, "hi"),
        ("Это правильный ответ на вопрос.", "ru"),
        ("이것은 정답입니다. 사과를 세어 보세요.", "ko"),
        ("La réponse est quarante-deux, car nous comptons les pommes.", "fr"),
    ],
)
def test_the_requested_language_passes(backend, text, code):
    result = gate(backend=backend).check([text], [code])
    assert result.reason.tolist() == ["pass"]
    assert result.value.tolist() == [1.0]
    assert result.detected.tolist() == [code]
    assert result.language_share.tolist() == result.confidence.tolist() == [1.0]


@pytest.mark.parametrize("backend", ["py3langid", "fasttext"])
def test_another_language_fails(backend):
    result = gate(backend=backend).check(
        [GERMAN, ENGLISH, CHINESE, JAPANESE], ["en", "de", "ja", "zh"]
    )
    assert result.reason.tolist() == ["wrong_language"] * 4
    assert result.detected.tolist() == ["de", "en", "zh", "ja"]
    assert result.value.tolist() == [0.0] * 4


# ------------------------------------------------------------------ real answers
@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("请使用 JSON 格式返回 SRID 值。", "zh"),
        ("Python の list を使って sort してください。", "ja"),
        ("이 API는 HTTP 요청을 보냅니다.", "ko"),
        ("Установите Python и pip.", "ru"),
        ("استخدم الأمر git status لمعرفة حالة المستودع\u200f.", "ar"),
        ("कृपया config.yaml फ़ाइल में API key डालें और server को restart करें।", "hi"),
        (CODE_AND_GERMAN, "de"),
        ("Rechne `sum(x) / len(x)` aus: das Ergebnis ist $\\boxed{42}$.", "de"),
        ("Siehe https://example.org/docs?id=3 für die Details der Installation 🚀", "de"),
        ("Die Datei ist 3.5 GB groß und lädt in 120 ms.", "de"),
    ],
)
def test_technical_terms_code_urls_and_units_count_for_no_language(text, code):
    for candidates in ((*CANDIDATES, "ar"), None):  # the run's languages, every curated one
        result = LanguageGate(candidates=candidates).check([text], code)
        assert result.reason.tolist() == ["pass"], (text, candidates)


def test_a_url_at_the_end_of_a_text_no_longer_shifts_the_batch():
    result = LanguageGate(candidates=["en", "de"]).check(
        ["see https://example.com", "Das ist ein Text."], ["en", "de"]
    )
    assert result.reason.tolist() == ["pass", "pass"]


def test_short_strings_of_close_languages_pass_long_ones_are_told_apart():
    g = LanguageGate()  # every curated language: ru and sr, es and pt, id and ms are candidates
    serbian = (
        "Београд је главни и највећи град Србије. Налази се на ушћу Саве у Дунав и има "
        "дугу историју."
    )
    spanish = "El gato negro duerme en la cama todo el día porque está muy cansado después."
    result = g.check(
        ["Установите Python и pip.", "Artistas", "Artistas", serbian, spanish],
        ["ru", "pt", "es", "ru", "pt"],
    )
    assert result.reason.tolist() == ["pass"] * 3 + ["wrong_language"] * 2
    assert result.detected.tolist()[3:] == ["sr", "es"]


def test_code_mixing_fails_in_any_script_with_or_without_punctuation():
    texts = [
        "Der Hund schläft." + TWO_ENGLISH,
        "Der Hund schläft gern in der Sonne" + TWO_ENGLISH.replace(".", ""),
        "यह उत्तर सही है।" + TWO_ENGLISH,
        "这个答案是正确的" + TWO_ENGLISH.replace(".", ""),
    ]
    result = gate().check(texts, ["de", "de", "hi", "zh"])
    assert not result.passed.any()
    assert (result.language_share < 0.8).all()
    soft = gate(mode="soft").check(texts, ["de", "de", "hi", "zh"])
    np.testing.assert_allclose(soft.value, result.language_share)
    assert ((soft.value > 0) & (soft.value < 0.8)).all()


def test_a_foreign_sentence_in_a_long_answer_is_tolerated():
    answer = " ".join(
        [
            GERMAN,
            "Wir zählen die Äpfel noch einmal.",
            "Das Ergebnis bleibt gleich.",
            "See the appendix.",
            "Deshalb stimmt die Antwort.",
        ]
    )
    result = gate().check([answer], "de")
    assert result.reason.tolist() == ["pass"]
    assert 0.8 <= result.language_share[0] < 1.0


def test_japanese_kana_passes_for_ja_and_fails_for_zh():
    assert gate().check([JAPANESE, JAPANESE], ["ja", "zh"]).passed.tolist() == [True, False]
    # A detector that cannot say Japanese: kana are not Han, so no span can be Chinese.
    result = LanguageGate(candidates=("zh", "en")).check([JAPANESE], "zh")
    assert result.reason.tolist() == ["wrong_language"]
    assert result.script_share[0] == 0.0


def test_no_language_texts_fail_and_are_counted():
    g = LanguageGate(candidates=("de", "en"))
    texts = ["", "   \n\t ", "42", "#### 1,234.5 + (17 * 3) = ?!", "```\nprint('hi')\n```", GERMAN]
    result = g.check(texts, "de")
    assert result.reason.tolist() == ["empty", "empty", "no_letters", "no_letters", "empty", "pass"]
    assert result.value.tolist() == [0.0] * 5 + [1.0]
    assert result.detected.tolist() == [None] * 5 + ["de"]
    assert np.isnan(result.confidence[:5]).all()
    sums = g.metric_sums()
    assert sums.values == {
        "checked": 6,
        "empty": 3,
        "no_letters": 2,
        "wrong_language": 0,
        "code_mixed": 0,
        "pass": 1,
    }
    metrics = sums.metrics()
    assert metrics["gate/pass_rate"] == pytest.approx(1 / 6)
    assert metrics["gate/empty_rate"] == pytest.approx(0.5)
    assert metrics["gate/checked"] == 6.0
    assert g.metric_sums(reset=True).values["checked"] == 6
    assert math.isnan(g.metric_sums().metrics()["gate/pass_rate"])
    merged = MetricSums.merge([sums, sums])  # two ranks that each checked the same batch
    assert merged.metrics() == pytest.approx(metrics | {"gate/checked": 12.0}, nan_ok=True)


def test_min_letter_share_is_configurable():
    text = "x = 1234567890 1234567890"  # 1 letter in 22 visible characters
    assert gate().check([text], "en").reason.tolist() == ["no_letters"]
    assert gate(min_letter_share=0.0).check([text], "en").reason.tolist() != ["no_letters"]


@pytest.mark.parametrize("backend", ["py3langid", "langid", "lingua"])
def test_tibetan_is_gated_by_script_alone(backend):
    g = LanguageGate(backend=backend)
    assert "bo" not in backend_languages(backend) and "bo" in g.script_only
    result = g.check([TIBETAN, ENGLISH, TIBETAN, TIBETAN + TWO_ENGLISH], ["bo", "bo", "zh", "bo"])
    assert result.detected.tolist()[:3] == ["bo", "en", "bo"]
    assert result.reason.tolist() == ["pass", "wrong_language", "wrong_language", "code_mixed"]


def test_identify_names_the_top_language_and_leaves_the_counts_alone():
    g = LanguageGate(candidates=CANDIDATES)
    assert g.identify([GERMAN, "42", "Установите Python и pip."]).tolist() == ["de", None, "ru"]
    assert g.metric_sums().values["checked"] == 0


# ------------------------------------------------------------------ modes
def test_additive_mode_returns_a_bonus_or_a_penalty():
    g = gate(mode="additive", match_reward=0.5, mismatch_reward=-25.0)
    result = g.check([GERMAN, ENGLISH, "Der Hund." + TWO_ENGLISH, "  "], ["de", "de", "de", "de"])
    assert result.value.tolist() == [0.5, -25.0, -25.0, -25.0]
    assert gate(mode="additive").check([GERMAN, ENGLISH], "de").value.tolist() == [1.0, 0.0]


def test_requested_language_may_differ_per_item_and_result_is_positional():
    texts = [GERMAN, JAPANESE, ENGLISH, CHINESE, HINDI] * 3
    requested = ["de", "ja", "en", "zh", "hi"] * 3
    result = gate().check(texts, requested)
    assert result.passed.all()
    assert result.detected.tolist() == requested


def test_a_lower_share_threshold_lets_code_mixed_answers_through():
    text = "Der Hund schläft gern in der Sonne, und die Katze liegt den ganzen Tag im Garten."
    text += TWO_ENGLISH
    assert gate().check([text], "de").reason.tolist() == ["code_mixed"]
    assert gate(min_language_share=0.3).check([text], "de").passed.all()


# ------------------------------------------------------------------ properties
NASTY = st.sampled_from(
    [
        "\x00",
        "\ud800",
        "https://x.org",
        "```py\n",
        "`",
        "$$",
        "\\frac",
        "\u200b",
        "\u202e",
        "👍",
        "%s",
        "JSON",
        "。",
        "\n",
        GERMAN,
        JAPANESE,
        HINDI,
        TIBETAN,
        "Привет мир.",
        "مرحبا.",
    ]
)
ANY_TEXT = st.lists(
    NASTY | st.text(st.characters(exclude_categories=()), max_size=15), max_size=6
).map("".join)


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(ANY_TEXT, max_size=6),
    requested=st.sampled_from(CANDIDATES),
    mode=st.sampled_from(["hard", "soft"]),
)
def test_one_result_per_text_with_values_in_the_unit_interval(texts, requested, mode):
    g = gate(mode=mode)
    result = g.check(texts, requested)
    for values in (result.language_share, result.script_share, result.letter_share, result.value):
        assert values.shape == (len(texts),)
        assert ((values >= 0.0) & (values <= 1.0)).all()
    assert set(result.reason.tolist()) <= set(REASONS)
    assert (result.language_share[result.passed] >= 0.8).all()
    if mode == "hard":
        assert (result.value == result.passed).all()
    assert len(g.identify(texts)) == len(texts)


def test_a_megabyte_answer_is_gated_on_its_first_characters():
    result = gate().check([GERMAN * 12_000, ENGLISH * 12_000 + GERMAN], ["de", "de"])
    assert result.reason.tolist() == ["pass", "wrong_language"]


# ------------------------------------------------------------------ benchmark
def test_benchmark_quick_mode_writes_json(tmp_path, benchmark_module):
    bench = benchmark_module("gate_accuracy")
    output = tmp_path / "gate_accuracy.json"
    results = bench.main(
        ["--quick", "--backends", "py3langid", "--no-all-candidates", "--output", str(output)]
    )
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(results))
    (report,) = saved["results"]["gates"]
    assert report["gate/us_per_text"] > 0
    assert set(report["per_language"]) >= {"de", "en", "ja", "zh"}
    assert report["gate/min_pass"] >= 0.9
    assert report["gate/max_mixed_other"] <= 0.2


def test_confusable_siblings_short_strings_pass_paragraphs_are_told_apart():
    g = LanguageGate(candidates=["da", "no", "sv", "hr", "sr", "bs", "id", "ms", "en"])
    texts = ["Hvala na pomoći."] * 3 + ["Terima kasih atas bantuannya."] * 2
    result = g.check(texts, ["hr", "bs", "sr", "id", "ms"])
    assert result.passed.all()
    danish = (
        "Jeg har boet i København i mange år, og jeg elsker byens cykelstier og "
        "havnebadene om sommeren."
    )
    result = g.check([danish, danish], ["da", "no"])
    assert result.reason.tolist()[0] == "pass"
    assert not result.passed[1]  # a Danish paragraph is not Norwegian enough
