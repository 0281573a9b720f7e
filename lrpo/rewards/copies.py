"""What the guards and the gate read of a text: its chat turns, lrpo's directives, letters.

Texts are compared on their letters only, so that shared numbers and equations (a correct
translation of a math answer) are no evidence of copying, and without lrpo's own directives
and special tokens, which are no evidence of the answer's language.
"""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from lrpo.languages import LANGUAGES, DirectiveStyle, directive_text

_NON_LETTERS = re.compile(r"[\W\d_]+")
_NUMBER = re.compile(r"\d+")
# Special tokens (<|out_lang_es|>, <|im_start|>) and the chat role a template writes after one.
_SPECIAL_TOKEN = re.compile(
    r"<\|[^<>|\n]{0,64}\|>(?:(?:system|user|assistant|model)(?=\s*(?:\n|<\|)))?"
)
# Rounds of removal: a directive can surround another ("Answer in Answer in English. English.");
# bounded, so that a crafted 1 MB text costs a few passes, not one per nesting level.
_STRIP_ROUNDS = 4


def message_text(item: Any, roles: tuple[str, ...] = ("assistant",)) -> str | None:
    """The text of a completion or prompt: a str as is, or the ``roles`` turns of a chat.

    Several matching turns are joined with a newline; a content may be a list of
    ``{"type": "text"}`` parts. Anything else (None, a number, no such turn) gives None.

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
            content = message.get("content")
            if isinstance(content, Sequence) and not isinstance(content, str | bytes):
                parts = [p.get("text") for p in content if isinstance(p, Mapping)]
                parts = [part for part in parts if isinstance(part, str)]
                content = "".join(parts) if parts else None
            if isinstance(content, str):
                texts.append(content)
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


def trigrams(text: str) -> set[str]:
    """The character trigrams of ``text``."""
    return {text[i : i + 3] for i in range(len(text) - 2)}


def letters(normal: str) -> int:
    """Letters of a normalised text (everything but its single spaces).

    Examples
    --------
    >>> letters(normalize_for_copy("It is 42, yes."))
    7
    """
    return len(normal) - normal.count(" ")


#: A normalised text and its trigrams (precomputed: a reference or question serves a group).
Normal = tuple[str, set[str]]


def normalized_overlap(a: Normal, b: Normal, min_letters: int) -> float:
    """How much of normalised ``a`` is copied from ``b``, in [0, 1]: 1.0 when equal; else,
    from ``min_letters`` letters on, the share of its trigrams found in ``b``; else 0.0.

    Examples
    --------
    >>> a, b = normalize_for_copy("What is 2 + 2?"), normalize_for_copy("what is 2+2")
    >>> normalized_overlap((a, trigrams(a)), (b, trigrams(b)), 20)
    1.0
    """
    (a, grams), (b, b_grams) = a, b
    if a == b:
        return 1.0 if a else 0.0
    if letters(a) < min_letters:
        return 0.0
    return len(grams & b_grams) / len(grams) if grams else 0.0


def prompt_copied(
    text: Normal, question: Normal, overlap: float, min_letters: int, extra: float
) -> bool:
    """The ``prompt_copy`` rule: a near-copy of the question, or a text that contains it
    (``overlap`` of its trigrams) and adds fewer letters than ``extra`` times the question's
    (and than ``min_letters`` when that is more).

    Examples
    --------
    >>> question = normalize_for_copy("What is the capital city of France?")
    >>> text = normalize_for_copy("What is the capital city of France? Paris.")
    >>> prompt_copied((text, trigrams(text)), (question, trigrams(question)), 0.9, 20, 0.5)
    True
    """
    if normalized_overlap(text, question, min_letters) >= overlap:
        return True
    (text, text_grams), (question, question_grams) = text, question
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


def _directive_texts(code: str) -> set[str]:
    """Every directive text lrpo writes for ``code``, the tag of the default template included."""
    texts = set()
    for style in DirectiveStyle:
        # an unknown code, or no native instruction outside the curated languages
        with contextlib.suppress(ValueError):
            texts.add(directive_text(code, style))
    return texts


@functools.lru_cache(maxsize=256)
def _directive_patterns(code: Any) -> tuple[re.Pattern, re.Pattern]:
    """(raw, normalised) patterns of lrpo's directive texts: curated languages and ``code``."""
    texts = {text for curated in LANGUAGES for text in _directive_texts(curated)}
    if isinstance(code, str) and code not in LANGUAGES:
        texts |= _directive_texts(code)
    english = directive_text("en", DirectiveStyle.ENGLISH)
    texts.add(directive_text("en", DirectiveStyle.SYSTEM).removesuffix(english).strip())
    raw = sorted(texts, key=len, reverse=True)
    normal = sorted({normalize_for_copy(text) for text in texts} - {""}, key=len, reverse=True)
    return (
        re.compile("|".join(map(re.escape, raw))),
        re.compile(r"(?<!\S)(?:" + "|".join(map(re.escape, normal)) + r")(?!\S)"),
    )


def without_directives(text: str, code: Any = None) -> str:
    """``text`` without lrpo's exact directive texts and special tokens, verbatim otherwise.

    Examples
    --------
    >>> without_directives("<|out_lang_de|> Die Antwort ist vier.")
    'Die Antwort ist vier.'
    """
    return _directive_patterns(code)[0].sub("", _SPECIAL_TOKEN.sub("", text)).strip()


def strip_directives(text: str, code: str | None = None) -> tuple[str, bool]:
    """``text`` normalised (:func:`normalize_for_copy`) without directives and special tokens,
    and whether anything was removed.

    Removes every :class:`~lrpo.languages.DirectiveStyle` in every curated language and in
    ``code``, "You are a helpful assistant.", the default template's tags (``out lang es``)
    and special tokens with the chat role a template writes after one; as whole words.

    Examples
    --------
    >>> strip_directives("What is the capital of France?\\nResponde en español.")
    ('what is the capital of france', True)
    >>> strip_directives("<|out_lang_sw|> answer in SWAHILI")
    ('', True)
    >>> strip_directives("Corresponde en español.")
    ('corresponde en español', False)
    """
    untagged = _SPECIAL_TOKEN.sub(" ", text)
    normal = normalize_for_copy(untagged)
    removed = untagged != text
    pattern = _directive_patterns(code)[1]
    for _ in range(_STRIP_ROUNDS):
        rest = " ".join(pattern.sub(" ", normal).split())
        if rest == normal:
            break
        normal, removed = rest, True
    return normal, removed
