"""What the copy guards compare: normalised letters, trigram overlap, containment, numbers.

Texts are compared on their letters only (NFKC, case folded, every run of non-letters one
space), so that shared numbers and equations (a correct translation of a math answer) are no
evidence of copying. See :mod:`lrpo.rewards.guards` for the rules built on these.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "copy_overlap",
    "letters",
    "normalize_for_copy",
    "normalized_overlap",
    "numbers",
    "prompt_copied",
    "trigrams",
]

_NON_LETTERS = re.compile(r"[\W\d_]+")
_NUMBER = re.compile(r"\d+")


def normalize_for_copy(text: str) -> str:
    """Letters only, case-folded, NFKC: what the copy guard compares.

    Examples
    --------
    >>> normalize_for_copy("  The ANSWER is 42!\\n")
    'the answer is'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_LETTERS.sub(" ", text).strip()


def trigrams(text: str) -> set[str]:
    """The character trigrams of ``text``.

    Examples
    --------
    >>> sorted(trigrams("abcd"))
    ['abc', 'bcd']
    """
    return {text[i : i + 3] for i in range(len(text) - 2)}


def letters(normal: str) -> int:
    """Letters of a normalised text (everything but its single spaces).

    Examples
    --------
    >>> letters(normalize_for_copy("It is 42, yes."))
    7
    """
    return len(normal) - normal.count(" ")


def copy_overlap(completion: str, source: str, *, min_letters: int = 20) -> float:
    """How much of ``completion`` is copied from ``source``, both normalised, in [0, 1].

    1.0 for equal texts; else, when the completion has at least ``min_letters`` letters, the
    share of its character trigrams found in the source; else 0.0.

    Examples
    --------
    >>> copy_overlap("What is 2 + 2?", "what is 2+2")
    1.0
    >>> copy_overlap("Jibu ni nne kwa sababu mbili na mbili", "The answer is four")
    0.0
    """
    a, b = normalize_for_copy(completion), normalize_for_copy(source)
    return normalized_overlap(a, b, trigrams(b), min_letters)


def normalized_overlap(
    a: str, b: str, b_trigrams: set[str], min_letters: int, a_trigrams: set[str] | None = None
) -> float:
    """:func:`copy_overlap` on normalised texts, trigrams precomputed (``a``'s optionally).

    The guards compare each completion with a reference or question shared by its group, so
    the shared side's trigrams are computed once.
    """
    if a == b:
        return 1.0 if a else 0.0
    if sum(ch != " " for ch in a) < min_letters:
        return 0.0
    grams = trigrams(a) if a_trigrams is None else a_trigrams
    return len(grams & b_trigrams) / len(grams) if grams else 0.0


def prompt_copied(
    text: str,
    text_grams: set[str],
    question: str,
    question_grams: set[str],
    *,
    overlap: float,
    min_letters: int,
    extra: float,
) -> bool:
    """The ``prompt_copy`` rule on normalised texts and their trigrams.

    A near-copy of the question, or a text that contains it (``overlap`` of its trigrams)
    and adds fewer letters than ``extra`` times the question's (and than ``min_letters``
    when that is more); see :mod:`lrpo.rewards.guards`.

    Examples
    --------
    >>> question = normalize_for_copy("What is the capital city of France?")
    >>> text = normalize_for_copy("What is the capital city of France? Paris.")
    >>> prompt_copied(text, trigrams(text), question, trigrams(question), overlap=0.9,
    ...               min_letters=20, extra=0.5)
    True
    """
    if normalized_overlap(text, question, question_grams, min_letters, text_grams) >= overlap:
        return True
    size = letters(question)
    if size < min_letters or not question_grams:
        return False
    contained = len(question_grams & text_grams) / len(question_grams)
    added = letters(text) - size
    return contained >= overlap and added < max(extra * size, min_letters)


def numbers(text: str) -> set[str]:
    """The numbers a text states, as digit strings without leading zeros (any script's digits).

    Examples
    --------
    >>> sorted(numbers("She sells 16 - 3 - 4 = 9 eggs for ٢ dollars, 009 left"))
    ['16', '2', '3', '4', '9']
    """
    found = set()
    for digits in _NUMBER.findall(text):
        if len(digits) <= 64:
            digits = str(int(digits))  # ASCII, without leading zeros
        found.add(digits)
    return found
