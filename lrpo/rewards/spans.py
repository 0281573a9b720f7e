"""Split a batch of answers into language spans, weighted in words, with numpy.

A code-mixed answer ("Das ist richtig. The answer is 42.") is caught only if its parts are
judged apart. A span is a sentence (cut at ``. ! ?`` before white space, at ``。！？؟।॥۔።``
and line breaks); inside one, a run of words in scripts the requested language does not use
is a span of its own from ``min_foreign_words`` words (shorter runs, ``Python の list を``,
are technical terms). One numpy pass over the batch's code points; Python work per span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .scripts import char_word_weights, letters

__all__ = ["Spans", "split_spans"]

# Sentence ends: these always, and ASCII ones and the ellipsis only before white space.
_ALWAYS_ENDS = np.array([ord(c) for c in "\n。！？؟।॥۔።"], dtype=np.uint32)
_ENDS_BEFORE_SPACE = np.array([ord(c) for c in ".!?…"], dtype=np.uint32)
_SPACES = np.array([ord(c) for c in " \n\t\r"], dtype=np.uint32)
_JOINERS = np.array([ord(c) for c in "-'’"], dtype=np.uint32)


@dataclass(frozen=True)
class Spans:
    """Spans of a batch of B texts, and per-text letter statistics.

    Per span, shape (S,), spans with letters only: ``texts``; ``owner`` (index of its text);
    ``weight`` (words, > 0); ``own_letters`` (in the requested language's scripts); ``script``
    (the id in ``table`` of most of its letters, 0 if none). Per text, shape (B,): ``letters``;
    ``letter_share`` (over non-space characters, 0 if empty); ``script_share`` (letters in the
    requested language's scripts over all, 0 without letters).
    """

    texts: list[str]
    owner: np.ndarray
    weight: np.ndarray
    own_letters: np.ndarray
    script: np.ndarray
    letters: np.ndarray
    letter_share: np.ndarray
    script_share: np.ndarray


def split_spans(
    texts: Sequence[str],
    table: np.ndarray,
    allowed: np.ndarray,
    rows: np.ndarray,
    *,
    min_foreign_words: float = 3.0,
    window_words: float = 4.0,
) -> Spans:
    """Cut every text into language spans (see the module notes).

    Parameters
    ----------
    texts : sequence of str
        B texts of prose (:func:`lrpo.rewards.cleaning.strip_non_prose`).
    table, allowed : numpy.ndarray
        :func:`lrpo.rewards.scripts.script_table`; ``allowed[l, s]``: language row ``l``
        writes script id ``s``.
    rows : numpy.ndarray of int, shape (B,)
        Language row requested for each text.
    min_foreign_words, window_words : float, default 3 and 4
        Words from which a foreign-script run inside a sentence is a span; spans longer
        than ``window_words`` are cut into windows of that to twice that.

    Examples
    --------
    >>> from lrpo.rewards.scripts import script_table
    >>> table = script_table(["Latn", "Hani"])
    >>> allowed = np.array([[False, False, True]])  # zh: Han only
    >>> spans = split_spans(["请使用 JSON 格式。Enter a valid value", ""], table, allowed,
    ...                     np.array([0, 0]))
    >>> spans.texts, spans.weight.round(2).tolist(), spans.owner.tolist()
    (['请使用 JSON 格式。', 'Enter a valid value'], [3.78, 4.0], [0, 0])
    """
    size = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=size)
    # Texts joined by line breaks, which end sentences: no span crosses two texts.
    points = np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32)
    if points.size == 0:
        nothing = np.zeros(0, dtype=np.int64)
        zeros = np.zeros(size)
        return Spans(
            [], nothing, zeros[:0], nothing, nothing, np.zeros(size, np.int64), zeros, zeros
        )
    owner = np.repeat(np.arange(size), lengths + 1)[: points.size]
    is_letter = letters()[points]
    own = allowed[np.asarray(rows)[owner], table[points]] & is_letter
    kind = np.where(is_letter, np.where(own, 1, 2), 0)  # 0: no letter, 1: own, 2: foreign

    following = np.append(points[1:], 0x20)
    ends = np.isin(points, _ALWAYS_ENDS) | (
        np.isin(points, _ENDS_BEFORE_SPACE) & np.isin(following, _SPACES)
    )
    sentence = np.concatenate(([0], np.cumsum(ends)[:-1]))

    # Words: runs of letters of one kind, joined across a hyphen or an apostrophe
    # ("write-ahead", "aujourd'hui"); weights per the scripts' characters per word.
    previous_kind = np.concatenate(([0], kind[:-1]))
    joined = np.isin(np.concatenate(([0], points[:-1])), _JOINERS) & (
        np.concatenate(([0, 0], kind[:-2]))[: kind.size] == kind
    )
    starts = is_letter & (kind != previous_kind) & ~joined
    word = np.cumsum(starts) - 1
    word_start = np.flatnonzero(starts)
    continuous = np.bincount(
        word[is_letter], char_word_weights()[points[is_letter]], minlength=word_start.size
    )
    word_weight = np.where(continuous > 0, continuous, 1.0)
    word_kind, word_sentence = kind[word_start], sentence[word_start]

    # Runs of consecutive words of one kind within a sentence; long foreign runs split off.
    run_starts = np.ones(word_start.size, dtype=bool)
    run_starts[1:] = (word_kind[1:] != word_kind[:-1]) | (word_sentence[1:] != word_sentence[:-1])
    run = np.cumsum(run_starts) - 1
    run_weight = np.bincount(run, word_weight, minlength=int(run_starts.sum()))
    run_kind = word_kind[run_starts]
    apart = (run_kind == 2) & (run_weight >= min_foreign_words)
    n_sentences = int(sentence[-1]) + 1
    word_span = np.where(apart[run], n_sentences + run, word_sentence)
    word_span = _windows(word_span, word_weight, window_words, spaced=continuous == 0)

    # Letters take their word's span, other characters the previous word's in their sentence
    # (the next word's before the first one); characters of a sentence without words, none.
    before = word.clip(min=0)
    after = (word + 1).clip(max=max(word_start.size - 1, 0))
    char_span = np.full(points.size, -1, dtype=np.int64)
    if word_start.size:
        char_span = np.where(
            (word >= 0) & (word_sentence[before] == sentence),
            word_span[before],
            np.where(word_sentence[after] == sentence, word_span[after], -1),
        )
    char_span[is_letter] = word_span[word[is_letter]]
    char_span = np.where(char_span >= 0, char_span, -1 - sentence)  # wordless: weight 0
    codes, char_span = np.unique(char_span, return_inverse=True)
    span_of_word = np.searchsorted(codes, word_span)
    weight = np.bincount(span_of_word, word_weight, minlength=codes.size).astype(float)
    own_letters = np.bincount(char_span, own, minlength=codes.size).astype(np.int64)
    n_scripts = allowed.shape[1]
    cells = char_span[is_letter] * n_scripts + table[points[is_letter]]
    script_counts = np.bincount(cells, minlength=codes.size * n_scripts)
    script_counts = script_counts.reshape(codes.size, n_scripts)
    script_counts[:, 0] = 0
    script = np.where(script_counts.max(axis=1) > 0, script_counts.argmax(axis=1), 0)
    order = np.argsort(char_span, kind="stable")
    bounds = np.cumsum(np.bincount(char_span, minlength=codes.size))[:-1]
    span_text = [
        chunk.tobytes().decode("utf-32-le").strip() for chunk in np.split(points[order], bounds)
    ]
    span_owner = owner[order][np.concatenate(([0], bounds))] if codes.size else owner[:0]
    keep = np.flatnonzero(weight > 0)

    letter_count = np.bincount(owner, is_letter, minlength=size)
    own_count = np.bincount(owner, own, minlength=size)
    visible = lengths - np.bincount(owner, np.isin(points, _SPACES), minlength=size)
    visible[:-1] += 1  # the joining line break counted as a space of the text before
    return Spans(
        texts=[span_text[i] for i in keep],
        owner=span_owner[keep],
        weight=weight[keep],
        own_letters=own_letters[keep],
        script=script[keep],
        letters=letter_count.astype(np.int64),
        letter_share=np.divide(letter_count, visible, out=np.zeros(size), where=visible > 0),
        script_share=np.divide(own_count, letter_count, out=np.zeros(size), where=letter_count > 0),
    )


def _windows(
    span: np.ndarray, weight: np.ndarray, size: float, *, spaced: np.ndarray
) -> np.ndarray:
    """Span codes of words, each span cut into consecutive windows of ``size`` words or more.

    A span's words need not be adjacent (a sentence around a run set apart); a remainder
    under ``size`` joins the window before it. Spans with words of a script without spaces
    stay whole: a window of Han characters alone is Chinese to a detector, even in Japanese.
    """
    if span.size == 0:
        return span
    order = np.argsort(span, kind="stable")
    ordered, weights = span[order], weight[order]
    before = np.cumsum(weights) - weights  # words before each word, all spans together
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    position = before - np.maximum.accumulate(np.where(first, before, 0.0))
    index = np.cumsum(first) - 1
    total = np.bincount(index, weights)
    last = np.maximum(np.floor(total / size) - 1, 0)
    last[np.bincount(index, ~spaced[order]) > 0] = 0
    window = np.minimum(np.floor(position / size), last[index]).astype(np.int64)
    codes = np.empty_like(span)
    codes[order] = ordered * (int(last.max()) + 1) + window
    return codes
