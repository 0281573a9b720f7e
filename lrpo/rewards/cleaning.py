"""What of an answer is prose: any ``str`` sanitised; code, URLs, maths and technical tokens out.

Code, URLs, placeholders, options, identifiers and acronyms belong to no language: one Latin
acronym would count against a Chinese answer. :func:`sanitize` blanks unencodable, control and
invisible format characters (not ZWNJ and ZWJ: Persian, Indic, emoji). Technical tokens are
recognised by ASCII shape, not a word list (units after a number excepted): a German
``E-Mail`` or a Turkish ``İSTANBUL`` is prose. Each text is cleaned alone (no pattern runs
into the next answer); newlines (sentence ends) are kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "CHARS_PER_TOKEN",
    "clean_texts",
    "sanitize",
    "strip_non_prose",
    "text_list",
    "utf8_safe",
]

#: Characters kept per token of a model's limit before tokenizing: tokenizing a 1 MB string
#: takes seconds, and no tokenizer packs more than this many characters into one token.
CHARS_PER_TOKEN = 8
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

_UNSAFE = re.compile(
    "[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)
_CODE = re.compile(r"(```|~~~)[\s\S]*?(?:\1|\Z)|`[^`\n]*`")
_URL = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|[A-Za-z0-9_.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
    re.IGNORECASE,
)
_MATH = re.compile(r"\$\$[\s\S]*?\$\$|\\\[[\s\S]*?\\\]|\\\([\s\S]*?\\\)|\$[^$\n]+\$|\\[A-Za-z]+\*?")
# Units after a number; a list, since "4 und 5" has the shape of "4 ms". Kept as a table
# (fmt: skip): one unit per line would spread 17 short patterns over 19 lines.
_UNITS = "|".join(
    ("[kMGTP]?i?B", "[kMG]?b(?:ps|it)?", "[kMG]?Hz", "[mµn]?s", "min", "[mk]?[gmlL]", "[cmkµn]m",
     "m[²³]", "[mk]?[VWA]h?", "mAh", "°[CF]?", "px", "pt", "dpi", "fps", "rpm", "[ap]m")
)  # fmt: skip
# Latin word boundaries: a technical token glued to CJK text ("丢失AffFile参数") is still one,
# a word of accented capitals ("İSTANBUL") is not an acronym.
_LATIN = "A-Za-z0-9_\u00c0-\u024f\u1e00-\u1eff-"
_A, _START, _END = "[A-Za-z0-9_]", f"(?<![{_LATIN}])", f"(?![{_LATIN}])"
_TECHNICAL = re.compile(
    "|".join(
        (
            r"%(?:\d+\$)?[-+ #0']*\d*(?:\.\d+)?(?:hh|ll|[hlLqjzt])?[diouxXeEfFgGaAcsSpn]",
            r"%\([^)\s]*\)[a-zA-Z]",  # %(name)s
            r"\{[^{}\s]*\}",  # {0}, {name}
            r"\$\{?[A-Za-z_]\w*\}?",  # $HOME, ${x}
            _START + r"--?[A-Za-z0-9][\w=.+-]*",  # -x, --long-option=value
            r"(?<![\w/~.])(?:~|\.{1,2})?/[\w.+-]+(?:/[\w.+-]*)*|[A-Za-z]:\\[\w\\.+-]*",  # paths
            rf"\d[\d.,:]*\s?(?:{_UNITS})(?![A-Za-z])",  # 120 ms, 3.5 GB, 11:30 am
            rf"{_START}{_A}+(?:(?:\.|::|->){_A}+)+",  # os.path.join, std::vector, file.txt
            rf"{_START}[A-Za-z0-9]*_{_A}*",  # snake_case
            rf"{_START}{_A}*(?:[A-Za-z][0-9]|[0-9][A-Za-z]){_A}*",  # x86, mp3, utf8
            rf"{_START}[A-Za-z]*[a-z][A-Z][A-Za-z]*{_END}",  # camelCase, GitHub
            # JSON, GTK+, SHA-256
            rf"{_START}[A-Z][A-Z0-9]*[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*[+#]*{_END}",
            r"&#?[A-Za-z0-9]+;",  # HTML entities
            rf"{_START}{_A}+(?:[/|+]{_A}+)+{_END}",  # add/rm, none|all, Ctrl+Alt
        )
    )
)
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")
_SPACE = re.compile(r"\s+")


def sanitize(text: str) -> str:
    """Return ``text`` NFC-normalised with unencodable and invisible characters as spaces.

    Examples
    --------
    >>> sanitize("Die \\ud800 Antwort\\x00\\u200b!")
    'Die   Antwort  !'
    """
    return unicodedata.normalize("NFC", _UNSAFE.sub(" ", text))


def strip_non_prose(text: str, *, strip_math: bool = True) -> str:
    """Sanitise, then remove code, URLs, e-mail addresses, technical tokens (and maths).

    Line breaks survive (one per line); other white space runs become one space.

    Examples
    --------
    >>> strip_non_prose("请使用 JSON 格式返回 `srid` 值。\\nSee https://x.org/a")
    '请使用 格式返回 值。\\nSee'
    """
    text = _URL.sub(" ", _CODE.sub(" ", sanitize(text)))
    if strip_math:
        text = _MATH.sub(" ", text)
    text = _TECHNICAL.sub(" ", text)
    return _BLANK_LINES.sub("\n", _HORIZONTAL_SPACE.sub(" ", text)).strip()


def clean_texts(texts: Sequence[str], *, strip_math: bool = True) -> list[str]:
    """The prose of every text, white space collapsed: one string per input, for any ``str``.

    Parameters
    ----------
    texts : sequence of str
        Model answers.
    strip_math : bool, default True
        Also remove LaTeX maths (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) and
        commands such as ``\\boxed``, whose Latin letters would count against non-Latin answers.

    Examples
    --------
    >>> clean_texts(["Hallo ```python\\nprint(1)\\n``` Welt  `x`", "Also $\\\\frac{1}{2}$."])
    ['Hallo Welt', 'Also .']
    >>> clean_texts(["see https://example.com", "Das ist ein Text."])
    ['see', 'Das ist ein Text.']
    """
    return [_SPACE.sub(" ", strip_non_prose(text, strip_math=strip_math)) for text in texts]


def text_list(texts: Any, name: str = "texts", item: str = "text") -> list[str]:
    """``texts`` as a list; TypeError for a bare ``str`` or an item that is not a ``str``,
    naming it (a batch function takes any ``str`` items, not anything)."""
    if isinstance(texts, str) or not isinstance(texts, Sequence | np.ndarray):
        raise TypeError(
            f"{name} must be a sequence of str, got {type(texts).__name__}"
            + (f"; wrap a single {item} in a list" if isinstance(texts, str) else "")
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(text).__name__}")
    return list(texts)


def utf8_safe(text: str) -> str:
    """``text`` itself when UTF-8 can encode it, else a copy with lone surrogates as U+FFFD
    (tokenizers refuse them; the caller counts the repair by ``is not``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text
