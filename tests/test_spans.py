"""Tests for lrpo.rewards.spans and .scripts: spans, word weights and letter shares by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo.rewards.cleaning import strip_non_prose
from lrpo.rewards.scripts import CHARS_PER_WORD, char_word_weights, script_table
from lrpo.rewards.spans import split_spans

TABLE = script_table(["Latn", "Hani", "Deva"])
# Rows: 0 Latin (de), 1 Han (zh), 2 Devanagari (hi); column 0 is "not a letter".
ALLOWED = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=bool)
HAN = 1 / CHARS_PER_WORD["Hani"]


def spans(texts, rows, **settings):
    return split_spans(texts, TABLE, ALLOWED, np.asarray(rows), **settings)


def test_sentences_are_spans_weighted_in_words():
    result = spans(["Das ist gut. Und das auch!\nZeile drei", "Eins zwei"], [0, 0])
    assert result.texts == ["Das ist gut.", "Und das auch!", "Zeile drei", "Eins zwei"]
    assert result.weight.tolist() == [3.0, 3.0, 2.0, 2.0]
    assert result.owner.tolist() == [0, 0, 0, 1]
    assert result.own_letters.tolist() == [9, 10, 9, 8]


def test_a_decimal_point_or_a_dot_inside_a_word_ends_no_sentence():
    assert spans(["Es sind 3.5 Liter.Nicht mehr"], [0]).texts == ["Es sind 3.5 Liter.Nicht mehr"]


def test_han_counts_per_characters_per_word():
    result = spans(["这是答案。好"], [1])
    assert result.texts == ["这是答案。", "好"]
    np.testing.assert_allclose(result.weight, [4 * HAN, HAN], rtol=1e-6)
    assert char_word_weights()[ord("a")] == 0.0


def test_short_foreign_runs_stay_long_ones_are_cut_out():
    # "list" (1 word) stays in its Chinese sentence; "Enter a valid value" (4) is its own span.
    result = spans(["用 list 排序 Enter a valid value 好的"], [1])
    assert result.texts == ["用 list 排序 好的", "Enter a valid value"]
    np.testing.assert_allclose(result.weight, [5 * HAN + 1, 4.0], rtol=1e-6)
    assert result.own_letters.tolist() == [5, 0]
    assert spans(["用 a b c 好"], [1], min_foreign_words=4).texts == ["用 a b c 好"]


def test_long_spans_are_cut_into_windows_of_at_least_the_window_size():
    text = "eins zwei drei vier fünf sechs sieben acht neun zehn elf"
    result = spans([text], [0], window_words=4)
    assert result.texts == ["eins zwei drei vier", "fünf sechs sieben acht neun zehn elf"]
    assert result.weight.tolist() == [4.0, 7.0]
    # Scripts without spaces are not windowed: Han alone would read as Chinese in Japanese.
    assert len(spans(["这是一个很长的句子没有任何标点符号"], [1], window_words=2).texts) == 1


def test_letter_and_script_shares():
    result = spans(["नमस्ते ok", "12 ab", "", "!!"], [2, 0, 0, 0])
    assert result.letters.tolist() == [8, 2, 0, 0]
    np.testing.assert_allclose(result.letter_share, [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(result.script_share, [0.75, 1.0, 0.0, 0.0])
    assert result.owner.tolist() == [0, 1]  # the empty and letterless texts have no span


def test_an_empty_batch():
    result = spans([], [])
    assert result.texts == [] and result.letters.shape == (0,)


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(ANY_TEXT, max_size=6), data=st.data())
def test_spans_partition_each_texts_letters(texts, data):
    prose = [strip_non_prose(text) for text in texts]
    rows = data.draw(st.lists(st.integers(0, 2), min_size=len(prose), max_size=len(prose)))
    result = spans(prose, rows)
    assert result.letters.shape == result.letter_share.shape == (len(prose),)
    assert ((result.owner >= 0) & (result.owner < len(prose))).all()
    assert (result.weight > 0).all()
    assert len(result.texts) == result.owner.size == result.own_letters.size
    in_spans = np.bincount(
        result.owner, [sum(c.isalpha() for c in t) for t in result.texts], minlength=len(prose)
    )
    assert (in_spans <= [sum(c.isalpha() for c in t) for t in prose]).all()
    for share in (result.letter_share, result.script_share):
        assert ((share >= 0) & (share <= 1)).all()


@pytest.mark.parametrize("rows", [[0], [1]])
def test_a_megabyte_of_text(rows):
    result = spans([("Satz " * 9 + "这是。") * 15_000], rows)
    assert result.owner.size > 1000 and result.letters[0] > 500_000
