"""Guards of the semantic reward: texts from TRL inputs, copies, empty and over-long answers.

Each guard, when it fires, replaces the item's reward by ``guard_reward`` (0 by default, a
negative number for a penalty) and is counted under its name in
:meth:`lrpo.rewards.SemanticReward.metrics`. One name per item: the first that fires in
:data:`GUARDS` order.

``invalid_completion``
    the completion is None, not a string, or a message list without assistant text.
``missing_reference``
    no reference for the item on the similarity path: None, not a string, or only white space
    (an empty text embeds close to everything: it would score about 0.9, above a real but
    unrelated reference).
``unknown_language``
    the requested (or reference) language code is not a valid code (see
    :func:`lrpo.languages.get_language`).
``empty``
    the completion holds only white space.
``too_long``
    more than ``max_length`` characters (``length_unit="chars"``, 4096 by default) or
    white-space-separated words (``"words"``).
``copy``
    a near-copy of the reference or of the prompt: after normalisation (NFKC, case folding,
    every run of non-letters -> one space) the texts are equal, or the completion has at least
    ``copy_min_letters`` letters and at least ``copy_overlap`` (0.9) of its character
    trigrams occur in the source. Letters only, so that shared numbers and equations (a correct
    translation of a math answer) do not count as copying. With ``copy_guard="wrong_language"``
    (the default) it fires only when the requested language differs from the reference's: a
    copy is then in the wrong language, which a soft or weighted gate would not zero.
``nan_score``
    the score (given as ``scores=``, from the scorer or from the embedder) is NaN or infinite;
    the breakdown's ``raw`` holds NaN for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "GUARDS",
    "copy_overlap",
    "message_text",
    "normalize_for_copy",
    "text_length",
]

#: Guard names in precedence order (the first that fires names the item).
GUARDS = (
    "invalid_completion",
    "missing_reference",
    "unknown_language",
    "empty",
    "too_long",
    "copy",
    "nan_score",
)

_NON_LETTERS = re.compile(r"[\W\d_]+")


def _content_text(content: Any) -> str | None:
    """Text of a message's content: a str, or a list of parts with ``{"type": "text"}``."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes):
        parts = [
            part.get("text") for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]  # fmt: skip
        return "".join(parts) if parts else None
    return None


def message_text(item: Any, roles: tuple[str, ...] = ("assistant",)) -> str | None:
    """The text of a completion or prompt: a str as is, or the ``roles`` turns of a chat.

    TRL's conversational completions are ``[{"role": "assistant", "content": "..."}]``;
    several matching turns are joined with a newline. Anything else (None, a number, a chat
    without such a turn) gives None.

    Examples
    --------
    >>> message_text([{"role": "assistant", "content": "Jambo"}])
    'Jambo'
    >>> message_text([{"role": "user", "content": "Hi"}], roles=("user",))
    'Hi'
    >>> message_text(None) is None, message_text([{"role": "user", "content": "Hi"}]) is None
    (True, True)
    """
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        item = [item]
    if not isinstance(item, Sequence) or isinstance(item, bytes):
        return None
    texts = []
    for message in item:
        if isinstance(message, Mapping) and message.get("role") in roles:
            text = _content_text(message.get("content"))
            if text is not None:
                texts.append(text)
    return "\n".join(texts) if texts else None


def normalize_for_copy(text: str) -> str:
    """Letters only, case-folded, NFKC: what the copy guard compares.

    Examples
    --------
    >>> normalize_for_copy("  The ANSWER is 42!\\n")
    'the answer is'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_LETTERS.sub(" ", text).strip()


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


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
    return _overlap(a, b, _trigrams(b), min_letters)


def _overlap(a: str, b: str, b_trigrams: set[str], min_letters: int) -> float:
    """:func:`copy_overlap` on normalised texts, with the source's trigrams precomputed."""
    if a == b:
        return 1.0 if a else 0.0
    if sum(ch != " " for ch in a) < min_letters:
        return 0.0
    grams = _trigrams(a)
    return len(grams & b_trigrams) / len(grams) if grams else 0.0


def text_length(text: str, unit: str) -> int:
    """Length in characters (``"chars"``) or white-space-separated words (``"words"``).

    Examples
    --------
    >>> text_length("two words", "chars"), text_length("two words", "words")
    (9, 2)
    """
    return len(text) if unit == "chars" else len(text.split())
