"""Tests for lrpo.rewards.cleaning: any str in, one prose string out."""

from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo.rewards import clean_texts
from lrpo.rewards.cleaning import sanitize, strip_non_prose

# Pieces real rollouts hold, to mix with arbitrary text (lone surrogates included).
NASTY = st.sampled_from(
    [
        "\x00",
        "\ud800",
        "\udfff",
        "https://example.com",
        "www.x.org/a?b=1",
        "a@b.co",
        "```",
        "```python\nx = 1",
        "~~~",
        "`",
        "$",
        "$$",
        "\\(",
        "\\[",
        "\\frac{1}{2}",
        "\u200b",
        "\u200f",
        "\u202e",
        "\ufeff",
        "\u200c",
        "👍🏽",
        "\r\n",
        "%s",
        "%(name)s",
        "{0}",
        "--opt",
        "/usr/bin",
        "C:\\x",
        "JSON",
        "camelCase",
        "snake_case",
        "x86",
        "3.5 GB",
        "。",
        "؟",
        "।",
        "Das ist gut.",
        "这是答案。",
        "مرحبا",
        "नमस्ते",
        "Привет",
        "\n\n",
    ]
)
ANY_TEXT = st.lists(
    NASTY | st.text(st.characters(exclude_categories=()), max_size=12), max_size=8
).map("".join)


def test_a_url_at_the_end_of_one_text_does_not_swallow_the_next():
    assert clean_texts(["see https://example.com", "Das ist ein Text."]) == [
        "see",
        "Das ist ein Text.",
    ]


def test_lone_surrogates_controls_and_invisible_characters_become_spaces():
    assert sanitize("Die \ud800 Antwort\x00ist\u200bda\ufeff") == "Die   Antwort ist da "
    assert strip_non_prose("Die \ud800 Antwort") == "Die Antwort"
    # ZWNJ is part of Persian spelling; kept.
    assert "\u200c" in sanitize("می\u200cخواهم")
    assert sanitize("e\u0301") == "é"  # NFC: the accent belongs to its letter


def test_code_urls_maths_and_technical_tokens_are_removed():
    cases = {
        "请使用 JSON 格式返回 SRID 值。": "请使用 格式返回 值。",
        "丢失AffFile参数": "丢失 参数",
        "compile_java_class 中有无效的 source_version 参数": "中有无效的 参数",
        "%(value)s ist kein gültiger Wert für %s.": "ist kein gültiger Wert für .",
        "Öffne /etc/hosts mit --force": "Öffne mit",
        "Hallo ```python\nprint(1)\n``` Welt  `x`": "Hallo Welt",
        "Also $\\frac{1}{2}$ und \\boxed{3}.": "Also und .",
        "Es braucht 3.5 GB und 120 ms, nicht 4 und 5 Äpfel": "Es braucht und , nicht 4 und 5 Äpfel",
        "Mail an a.b@example.org oder www.example.org": "Mail an oder",
    }
    for text, prose in cases.items():
        assert strip_non_prose(text) == prose, text


def test_prose_words_are_kept():
    text = "Die E-Mail-Adresse in İSTANBUL und Python's list"
    assert strip_non_prose(text) == text
    assert (
        strip_non_prose("Python の list を使って sort して") == "Python の list を使って sort して"
    )


def test_an_unclosed_fence_runs_to_the_end_of_its_own_text_only():
    assert clean_texts(["Hallo ```py\nx = 1", "Welt"]) == ["Hallo", "Welt"]


def test_line_breaks_survive_strip_but_not_clean():
    assert strip_non_prose("eins\n\n  zwei\tdrei") == "eins\nzwei drei"
    assert clean_texts(["eins\n\n  zwei"]) == ["eins zwei"]


def test_math_can_be_kept():
    assert strip_non_prose("x \\(a\\)", strip_math=False) == "x \\(a\\)"


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(ANY_TEXT, max_size=6))
def test_one_encodable_result_per_input_for_any_str(texts):
    cleaned = clean_texts(texts)
    assert len(cleaned) == len(texts)
    for text in cleaned:
        text.encode("utf-8")  # no lone surrogate survives
        assert "\x00" not in text and "\n" not in text


def test_a_megabyte_text_is_cleaned():
    text = ("Das ist ein Satz mit `code` und https://x.org/a. " * 25_000)[:1_000_000]
    assert clean_texts([text])[0].startswith("Das ist ein Satz mit und")
