"""Language registry and answer-language directives.

A router decides which language each rollout of a prompt should answer in; this
module says what a language *is* (:class:`Language`, :data:`LANGUAGES`,
:func:`get_language`) and rewrites prompts to ask for it (:func:`apply_directive`).

English names, autonyms and likely scripts come from ``langcodes`` (backed by
``language-data`` / CLDR). Only what it cannot give is written here: the
instruction "Answer in <language>." in each curated language, and the few script
lists where one likely script is not enough.

Design choices
--------------
* Codes are strict. A code is used as-is as a dictionary key and compared as a
  string everywhere (router arms, reward tables, logs), so ``"EN"``, ``"en_US"``
  or ``"iw"`` are rejected, with the canonical form (``"en"``, ``"en-US"``,
  ``"he"``) suggested, instead of being silently normalised.
* A valid canonical tag that is not curated (e.g. ``"gd"``, ``"zh-Hant"``) is
  accepted if CLDR has names for it; such entries have no native instruction.
* ``Language.scripts`` holds Unicode ``Script`` property values (ISO 15924 codes
  that individual characters carry), because it feeds a per-character
  script-share check. Composite codes are expanded: ``Jpan`` -> Hira, Kana, Hani;
  ``Hans``/``Hant`` -> Hani; ``Kore`` -> Hang only, since Hanja is rare in modern
  Korean and allowing Hani would accept a Chinese answer as Korean.
* The ``system`` directive is written in English ("You are a helpful assistant.
  Answer in Swahili."): every arm then gets the same system prompt except for the
  language name, and models reliably follow English system prompts even for
  languages they read poorly (e.g. Tibetan). Use ``native`` for an in-language
  instruction. An existing system message is extended with "Answer in <name>.",
  not replaced, so instructions that rewards depend on (answer format) survive.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, overload

import langcodes

__all__ = [
    "DEFAULT_TAG_TEMPLATE",
    "LANGUAGES",
    "REFERENCE_LANGUAGES",
    "DirectiveStyle",
    "Language",
    "UnknownLanguageError",
    "apply_directive",
    "directive_text",
    "get_language",
    "validate_languages",
]

#: The 15 language arms of the LRPO reference implementation.
REFERENCE_LANGUAGES: tuple[str, ...] = (
    "ar", "de", "en", "es", "fr", "id", "it", "ja", "ko", "nl", "pl", "pt", "ru", "vi", "zh",
)  # fmt: skip

#: Output-language tag appended by the ``tag`` style, as in the LRPO reference.
DEFAULT_TAG_TEMPLATE = "<|out_lang_{code}|>"

_SYSTEM_PREAMBLE = "You are a helpful assistant."

# "Answer in <language>." written in that language; its keys are the curated codes.
_NATIVE_INSTRUCTIONS: dict[str, str] = {
    "am": "በአማርኛ መልስ ይስጡ።",
    "ar": "أجب باللغة العربية.",
    "bn": "বাংলায় উত্তর দিন।",
    "bo": "བོད་སྐད་ཐོག་ལན་འདེབས་རོགས།",
    "cs": "Odpověz česky.",
    "de": "Antworte auf Deutsch.",
    "el": "Απάντησε στα ελληνικά.",
    "en": "Answer in English.",
    "es": "Responde en español.",
    "fa": "به فارسی پاسخ دهید.",
    "fi": "Vastaa suomeksi.",
    "fr": "Réponds en français.",
    "ha": "Ka amsa da harshen Hausa.",
    "he": "יש לענות בעברית.",
    "hi": "हिंदी में उत्तर दें।",
    "hu": "Válaszolj magyarul.",
    "id": "Jawablah dalam bahasa Indonesia.",
    "it": "Rispondi in italiano.",
    "ja": "日本語で答えてください。",
    "ko": "한국어로 답하세요.",
    "ms": "Jawab dalam bahasa Melayu.",
    "nl": "Antwoord in het Nederlands.",
    "pl": "Odpowiedz po polsku.",
    "pt": "Responda em português.",
    "ro": "Răspunde în limba română.",
    "ru": "Отвечай на русском языке.",
    "sr": "Одговори на српском.",
    "sv": "Svara på svenska.",
    "sw": "Jibu kwa Kiswahili.",
    "ta": "தமிழில் பதிலளிக்கவும்.",
    "te": "తెలుగులో సమాధానం ఇవ్వండి.",
    "th": "กรุณาตอบเป็นภาษาไทย",
    "tl": "Sumagot sa Filipino.",
    "tr": "Türkçe yanıt ver.",
    "uk": "Відповідай українською мовою.",
    "ur": "اردو میں جواب دیں۔",
    "vi": "Hãy trả lời bằng tiếng Việt.",
    "yo": "Dáhùn ní èdè Yorùbá.",
    "zh": "请用中文回答。",
    "zu": "Phendula ngesiZulu.",
}

# Languages commonly written in more than their one likely script.
_SCRIPT_OVERRIDES: dict[str, tuple[str, ...]] = {"sr": ("Cyrl", "Latn")}

# ISO 15924 composite codes -> the Unicode Script values their characters carry.
_COMPOSITE_SCRIPTS: dict[str, tuple[str, ...]] = {
    "Jpan": ("Hira", "Kana", "Hani"),
    "Kore": ("Hang",),
    "Hans": ("Hani",),
    "Hant": ("Hani",),
}


@dataclass(frozen=True, slots=True)
class Language:
    """A language a rollout can be asked to answer in.

    Attributes
    ----------
    code : str
        Canonical BCP-47 tag (ISO 639-1 where one exists), e.g. ``"sw"``.
    name : str
        English name, e.g. ``"Swahili"``.
    native_name : str
        Autonym, e.g. ``"Kiswahili"``.
    scripts : tuple of str
        Unicode Script values (ISO 15924) a correct answer may be written in,
        e.g. ``("Hira", "Kana", "Hani")`` for Japanese.
    native_instruction : str or None
        "Answer in <language>." written in the language itself; ``None`` for
        languages outside the curated registry.
    """

    code: str
    name: str
    native_name: str
    scripts: tuple[str, ...]
    native_instruction: str | None = None


class UnknownLanguageError(ValueError):
    """Raised for a language code that is malformed, non-canonical or unknown.

    Parameters
    ----------
    code : object
        The rejected value.
    suggestions : sequence of str, optional
        Valid codes the caller probably meant, best first.
    """

    def __init__(self, code: object, suggestions: Sequence[str] = ()) -> None:
        self.code = code
        self.suggestions = tuple(suggestions)
        if isinstance(code, str):
            problem = f"unknown language code {code!r}"
        else:
            problem = f"language code must be a str, got {type(code).__name__} {code!r}"
        hint = (
            f"did you mean {' or '.join(map(repr, self.suggestions))}? " if self.suggestions else ""
        )
        super().__init__(
            f"{problem}; {hint}use a canonical, case-sensitive BCP-47 tag such as 'en' or "
            f"'zh-Hant' (curated: {', '.join(LANGUAGES)})"
        )


def _from_langcodes(code: str, native_instruction: str | None = None) -> Language:
    """Build a :class:`Language` from ``langcodes`` data for a valid tag."""
    tag = langcodes.Language.get(code)
    likely = tag.maximize().script
    default_scripts = _COMPOSITE_SCRIPTS.get(likely, (likely,)) if likely else ()
    return Language(
        code=code,
        name=tag.display_name(),
        native_name=tag.autonym(),
        scripts=_SCRIPT_OVERRIDES.get(code, default_scripts),
        native_instruction=native_instruction,
    )


#: Curated languages, keyed by code; each has a native instruction.
LANGUAGES: Mapping[str, Language] = MappingProxyType(
    {code: _from_langcodes(code, text) for code, text in sorted(_NATIVE_INSTRUCTIONS.items())}
)


def _lookup(code: str) -> Language | None:
    """Return the language for an exact code, or ``None`` if it is not acceptable."""
    if code in LANGUAGES:
        return LANGUAGES[code]
    if not langcodes.tag_is_valid(code) or langcodes.standardize_tag(code) != code:
        return None
    return _from_langcodes(code) if langcodes.Language.get(code).has_name_data() else None


def _suggest(code: str) -> tuple[str, ...]:
    """Return up to three acceptable codes close to a rejected one."""
    text = code.strip()
    candidates: list[str] = []
    if langcodes.tag_is_valid(text):
        candidates.append(langcodes.standardize_tag(text))
    elif text.isprintable():  # find() crashes on some control characters
        with contextlib.suppress(LookupError):
            candidates.append(str(langcodes.find(text)))
    code_by_name = {language.name.lower(): key for key, language in LANGUAGES.items()}
    for match in difflib.get_close_matches(
        text.lower(), [*LANGUAGES, *code_by_name], n=3, cutoff=0.75
    ):
        candidates.append(code_by_name.get(match, match))
    return tuple(dict.fromkeys(c for c in candidates if _lookup(c) is not None))[:3]


def get_language(code: str) -> Language:
    """Return the language for a code.

    Parameters
    ----------
    code : str
        Canonical BCP-47 tag. Curated codes return their :data:`LANGUAGES` entry;
        other valid canonical tags with CLDR names are built on the fly, without a
        native instruction.

    Returns
    -------
    Language

    Raises
    ------
    UnknownLanguageError
        If ``code`` is not a str, is malformed, is not in canonical form (``"EN"``)
        or names no known language. The message suggests close valid codes.
    """
    if isinstance(code, str) and (language := _lookup(code)) is not None:
        return language
    raise UnknownLanguageError(code, _suggest(code) if isinstance(code, str) else ())


def validate_languages(codes: Sequence[str]) -> tuple[str, ...]:
    """Check a list of language codes, e.g. a router's arms, at config time.

    Parameters
    ----------
    codes : sequence of str
        Language codes; must be non-empty, known and free of duplicates.

    Returns
    -------
    tuple of str
        The codes, in their original order.

    Raises
    ------
    ValueError
        If ``codes`` is a bare string or empty, or contains a duplicate;
        :class:`UnknownLanguageError` (a ``ValueError``) for an unknown code.
    """
    if isinstance(codes, str):
        raise ValueError(
            f"expected a sequence of language codes, got the str {codes!r}; "
            f"wrap it in a list: [{codes!r}]"
        )
    codes = tuple(codes)
    if not codes:
        raise ValueError("expected at least one language code, got an empty sequence")
    for code in codes:
        get_language(code)
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise ValueError(
            f"duplicate language codes {duplicates} in {list(codes)}; list each language once"
        )
    return codes


class DirectiveStyle(StrEnum):
    """How :func:`apply_directive` asks for the answer language.

    Attributes
    ----------
    TAG
        Append an output-language tag, ``<|out_lang_sw|>``, to the last user turn.
    ENGLISH
        Append "Answer in Swahili." to the last user turn.
    NATIVE
        Append the instruction written in the target language ("Jibu kwa Kiswahili.").
    SYSTEM
        Put "You are a helpful assistant. Answer in Swahili." in the system
        message (a first line for plain-text prompts).
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
    """Return the text a directive adds to a prompt.

    Parameters
    ----------
    code : str
        Target language code (see :func:`get_language`).
    style : DirectiveStyle or str, default ``"tag"``
        Directive style.
    tag_template : str, default ``"<|out_lang_{code}|>"``
        Template for the ``tag`` style; must contain ``{code}``.

    Returns
    -------
    str
        E.g. ``"<|out_lang_sw|>"``, ``"Answer in Swahili."``, ``"Jibu kwa Kiswahili."``
        or ``"You are a helpful assistant. Answer in Swahili."``.

    Raises
    ------
    ValueError
        For an unknown style or code, a bad ``tag_template``, or the ``native``
        style on a language without a native instruction.
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
    return english if style is DirectiveStyle.ENGLISH else f"{_SYSTEM_PREAMBLE} {english}"


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
    prompt: Sequence[Mapping[str, Any]],
    code: str,
    style: DirectiveStyle | str = ...,
    *,
    tag_template: str = ...,
) -> list[dict[str, Any]]: ...
def apply_directive(
    prompt: str | Sequence[Mapping[str, Any]],
    code: str,
    style: DirectiveStyle | str = DirectiveStyle.TAG,
    *,
    tag_template: str = DEFAULT_TAG_TEMPLATE,
) -> str | list[dict[str, Any]]:
    """Rewrite a prompt to ask for an answer in language ``code``.

    The input is never mutated.

    Parameters
    ----------
    prompt : str or sequence of dict
        Plain text, or a conversation of ``{"role": ..., "content": ...}`` dicts
        (TRL's conversational format) with at least one ``"user"`` message.
    code : str
        Target language code (see :func:`get_language`).
    style : DirectiveStyle or str, default ``"tag"``
        ``tag``, ``english`` and ``native`` append ``"\\n" + directive`` to the
        text, or to the last user message. ``system`` prepends the directive as a
        first line of plain text; in a conversation it inserts a leading system
        message, or appends ``"\\nAnswer in <name>."`` to an existing one so that
        its instructions (e.g. answer format) are kept.
    tag_template : str, default ``"<|out_lang_{code}|>"``
        Template for the ``tag`` style; must contain ``{code}``.

    Returns
    -------
    str or list of dict
        A new string for a string prompt, else a new list of new message dicts.

    Raises
    ------
    ValueError
        For an unknown style or code (see :func:`directive_text`), or a
        conversation without a user message.
    TypeError
        If ``prompt`` is neither a str nor a sequence of mappings, or the message
        to edit has non-str content.

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
