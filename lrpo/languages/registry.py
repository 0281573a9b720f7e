"""The language registry: what a language code means, and which codes are accepted.

Names, autonyms and likely scripts come from ``langcodes`` (CLDR); written here is only what
it cannot give: "Answer in <language>." in each curated language, and a few script lists.

* Codes are strict: a code is a dictionary key and compared as a string everywhere (router
  arms, reward tables, logs), so ``"EN"``, ``"en_US"`` or ``"iw"`` are rejected with the
  canonical form suggested, not silently normalised. A canonical tag that is not curated
  (``"gd"``, ``"zh-Hant"``) is accepted if CLDR names it, without a native instruction.
* ``Language.scripts`` holds Unicode ``Script`` values (what a per-character script-share
  check sees): ``Jpan`` -> Hira, Kana, Hani; ``Hans``/``Hant`` -> Hani; ``Kore`` -> Hang
  only, since Hanja is rare in modern Korean and would let a Chinese answer pass as Korean.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import langcodes

#: The 15 language arms of the LRPO reference implementation (one row: fmt: skip keeps it a row).
REFERENCE_LANGUAGES: tuple[str, ...] = (
    "ar", "de", "en", "es", "fr", "id", "it", "ja", "ko", "nl", "pl", "pt", "ru", "vi", "zh",
)  # fmt: skip

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
    name, native_name : str
        English name and autonym, e.g. ``"Swahili"``, ``"Kiswahili"``.
    scripts : tuple of str
        Unicode Script values a correct answer may be written in (Japanese: Hira, Kana, Hani).
    native_instruction : str or None
        "Answer in <language>." in the language itself; ``None`` outside the curated ones.
    """

    code: str
    name: str
    native_name: str
    scripts: tuple[str, ...]
    native_instruction: str | None = None


class UnknownLanguageError(ValueError):
    """Raised for a language code that is malformed, non-canonical or unknown.

    ``code`` is the rejected value, ``suggestions`` the valid codes probably meant, best first.
    """

    def __init__(self, code: object, suggestions: Sequence[str] = ()) -> None:
        self.code = code
        self.suggestions = tuple(suggestions)
        if isinstance(code, str):
            problem = f"unknown language code {code!r}"
        else:
            problem = f"language code must be a str, got {type(code).__name__} {code!r}"
        meant = " or ".join(map(repr, self.suggestions))
        hint = f"did you mean {meant}? " if meant else ""
        super().__init__(
            f"{problem}; {hint}use a canonical, case-sensitive BCP-47 tag such as 'en' or "
            f"'zh-Hant' (curated: {', '.join(LANGUAGES)})"
        )


def _from_langcodes(code: str, native_instruction: str | None = None) -> Language:
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
    """The language of an exact code, or ``None`` if it is not acceptable."""
    if code in LANGUAGES:
        return LANGUAGES[code]
    if not langcodes.tag_is_valid(code) or langcodes.standardize_tag(code) != code:
        return None
    return _from_langcodes(code) if langcodes.Language.get(code).has_name_data() else None


def _suggest(code: str) -> tuple[str, ...]:
    """Up to three acceptable codes close to a rejected one."""
    text = code.strip()
    candidates: list[str] = []
    if langcodes.tag_is_valid(text):
        candidates.append(langcodes.standardize_tag(text))
    elif text.isprintable():  # find() crashes on some control characters
        with contextlib.suppress(LookupError):
            candidates.append(str(langcodes.find(text)))
    code_by_name = {language.name.lower(): key for key, language in LANGUAGES.items()}
    matches = difflib.get_close_matches(text.lower(), [*LANGUAGES, *code_by_name], 3, 0.75)
    candidates += [code_by_name.get(match, match) for match in matches]
    return tuple(dict.fromkeys(c for c in candidates if _lookup(c) is not None))[:3]


def get_language(code: str) -> Language:
    """The language of a code.

    Parameters
    ----------
    code : str
        Canonical BCP-47 tag: a curated code (its :data:`LANGUAGES` entry) or another
        valid canonical tag with CLDR names (built on the fly, no native instruction).

    Returns
    -------
    Language

    Raises
    ------
    UnknownLanguageError
        For a non-str, malformed, non-canonical (``"EN"``) or unknown code; the message
        suggests close valid codes.
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
        For a bare string, an empty sequence, a duplicate or an unknown code.
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
