"""lrpo's own directive texts and special tokens, removed before a completion is judged.

A completion that repeats "Answer in Swahili." or ``<|out_lang_sw|>`` has said nothing, and
lrpo's directive text is no evidence of the answer's language: the guards and the gate judge
the rest.
"""

from __future__ import annotations

import contextlib
import functools
import re
from typing import Any

from lrpo.languages import LANGUAGES, DirectiveStyle, directive_text

from .copies import normalize_for_copy

__all__ = ["strip_directives", "without_directives"]

# Special tokens (<|out_lang_es|>, <|im_start|>) and the chat role a template writes after one.
_SPECIAL_TOKEN = re.compile(
    r"<\|[^<>|\n]{0,64}\|>(?:(?:system|user|assistant|model)(?=\s*(?:\n|<\|)))?"
)
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


def without_directives(text: str, code: Any = None) -> str:
    """``text`` without lrpo's directive texts and special tokens, verbatim otherwise.

    For a prompt, where lrpo wrote the directive itself, and for the text the gate judges:
    exact texts only, case and punctuation kept.

    Examples
    --------
    >>> without_directives("<|out_lang_de|> Die Antwort ist vier.")
    'Die Antwort ist vier.'
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
