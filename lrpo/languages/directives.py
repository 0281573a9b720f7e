"""Answer-language directives: rewrite a prompt to ask for an answer in a given language.

The ``system`` directive is in English: every arm gets the same system prompt but for the
language name, and models follow English system prompts even for languages they read poorly.
An existing system message is extended, not replaced, so that its instructions survive.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, overload

from .registry import LANGUAGES, get_language

#: Output-language tag appended by the ``tag`` style, as in the LRPO reference.
DEFAULT_TAG_TEMPLATE = "<|out_lang_{code}|>"
Conversation = Sequence[Mapping[str, Any]]


class DirectiveStyle(StrEnum):
    """How :func:`apply_directive` asks for the answer language.

    Attributes
    ----------
    TAG, ENGLISH, NATIVE
        Append ``<|out_lang_sw|>``, "Answer in Swahili." or the instruction in the target
        language ("Jibu kwa Kiswahili.") to the last user turn.
    SYSTEM
        Put "You are a helpful assistant. Answer in Swahili." in the system message (a
        first line for plain-text prompts).
    """

    TAG = "tag"
    ENGLISH = "english"
    NATIVE = "native"
    SYSTEM = "system"


def _as_style(style: DirectiveStyle | str) -> DirectiveStyle:
    try:
        return DirectiveStyle(style)
    except ValueError:
        choices = ", ".join(repr(s.value) for s in DirectiveStyle)
        raise ValueError(f"unknown directive style {style!r}; choose one of {choices}") from None


def _format_tag(template: str, code: str) -> str:
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(template)}
    except ValueError:  # unbalanced braces
        fields = set()
    if fields - {None} != {"code"}:
        raise ValueError(
            f"tag_template {template!r} must contain exactly the placeholder "
            f"'{{code}}' (double any literal braces), e.g. {DEFAULT_TAG_TEMPLATE!r}"
        )
    return template.format(code=code)


@functools.lru_cache(maxsize=4096)  # a pure function, called for every routed rollout
def directive_text(
    code: str,
    style: DirectiveStyle | str = DirectiveStyle.TAG,
    *,
    tag_template: str = DEFAULT_TAG_TEMPLATE,
) -> str:
    """The text a directive adds to a prompt (see :class:`DirectiveStyle`).

    Parameters
    ----------
    code : str
        Target language code (see :func:`get_language`).
    style : DirectiveStyle or str, default ``"tag"``
    tag_template : str, default ``"<|out_lang_{code}|>"``
        Template for the ``tag`` style; must contain ``{code}``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown style or code, a bad ``tag_template``, or the ``native`` style on
        a language without a native instruction.
    """
    style = _as_style(style)
    language = get_language(code)
    if style is DirectiveStyle.TAG:
        return _format_tag(tag_template, language.code)
    if style is DirectiveStyle.NATIVE:
        if language.native_instruction is None:
            raise ValueError(
                f"no native instruction for {code!r} ({language.name}); use style "
                f"'english' or one of the curated codes: {', '.join(LANGUAGES)}"
            )
        return language.native_instruction
    english = f"Answer in {language.name}."
    return english if style is DirectiveStyle.ENGLISH else f"You are a helpful assistant. {english}"


def _append(message: dict[str, Any], text: str) -> None:
    content = message.get("content")
    if not isinstance(content, str):
        raise TypeError(
            f"cannot add a directive to a {message.get('role')!r} message whose "
            f"content is {type(content).__name__}; expected str content"
        )
    message["content"] = f"{content}\n{text}"


@overload
def apply_directive(
    prompt: str, code: str, style: DirectiveStyle | str = ..., *, tag_template: str = ...
) -> str: ...
@overload
def apply_directive(
    prompt: Conversation, code: str, style: DirectiveStyle | str = ..., *, tag_template: str = ...
) -> list[dict[str, Any]]: ...
def apply_directive(
    prompt: str | Conversation,
    code: str,
    style: DirectiveStyle | str = DirectiveStyle.TAG,
    *,
    tag_template: str = DEFAULT_TAG_TEMPLATE,
) -> str | list[dict[str, Any]]:
    """Rewrite a prompt, never mutated, to ask for an answer in language ``code``.

    Parameters
    ----------
    prompt : str or sequence of dict
        Plain text, or a conversation of ``{"role": ..., "content": ...}`` dicts (TRL's
        conversational format) with at least one ``"user"`` message.
    code, style, tag_template
        As in :func:`directive_text`. ``tag``, ``english`` and ``native`` append
        ``"\\n" + directive`` to the text or the last user message; ``system`` prepends
        it to plain text, inserts a leading system message, or appends
        ``"\\nAnswer in <name>."`` to an existing one.

    Returns
    -------
    str or list of dict
        A new string for a string prompt, else a new list of new message dicts.

    Raises
    ------
    ValueError
        For an unknown style or code, or a conversation without a user message.
    TypeError
        For a prompt neither a str nor a sequence of mappings, or non-str content to edit.

    Examples
    --------
    >>> apply_directive("What is 2+2?", "sw")
    'What is 2+2?\\n<|out_lang_sw|>'
    >>> apply_directive([{"role": "user", "content": "Hi"}], "de", "native")
    [{'role': 'user', 'content': 'Hi\\nAntworte auf Deutsch.'}]
    """
    style = _as_style(style)
    text = directive_text(code, style, tag_template=tag_template)
    if isinstance(prompt, str):
        return f"{text}\n{prompt}" if style is DirectiveStyle.SYSTEM else f"{prompt}\n{text}"
    if not isinstance(prompt, Sequence) or not all(isinstance(m, Mapping) for m in prompt):
        raise TypeError(
            "prompt must be a str or a list of {'role': ..., 'content': ...} dicts, "
            f"got {type(prompt).__name__}"
        )
    messages = [dict(message) for message in prompt]
    user_turns = [i for i, message in enumerate(messages) if message.get("role") == "user"]
    if not user_turns:
        roles = [message.get("role") for message in messages]
        raise ValueError(
            f"conversation has no 'user' message (roles: {roles}); "
            "add the question as a {'role': 'user', 'content': ...} message"
        )
    if style is not DirectiveStyle.SYSTEM:
        _append(messages[user_turns[-1]], text)
    elif messages[0].get("role") == "system":
        _append(messages[0], directive_text(code, DirectiveStyle.ENGLISH))
    else:
        messages.insert(0, {"role": "system", "content": text})
    return messages
