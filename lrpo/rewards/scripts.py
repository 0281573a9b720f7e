"""Text cleaning and Unicode script shares for a batch of answers, vectorised.

:func:`clean_texts` removes what is not prose before language identification
(code, maths, URLs) and collapses white space. :func:`letter_stats` then counts,
for every text at once, its letters, the share of non-space characters that are
letters, and the share of letters written in the scripts a requested language
allows (``lrpo.languages.Language.scripts``).

Design choices
--------------
* A *letter* is a code point of general category L (letters) or M (combining
  marks, e.g. Devanagari vowel signs) whose Unicode ``Script`` is a real script.
  Characters of script Common or Inherited (digits, punctuation, symbols, the
  Japanese long-vowel mark "ー", combining accents) are not letters: they belong
  to no language, so they count neither for nor against a script.
* Scripts come from the Unicode ``Script`` property as the ``regex`` module knows
  it (``\\p{Script=Hira}``), not from character names: names such as
  "KATAKANA-HIRAGANA PROLONGED SOUND MARK" or "CJK COMPATIBILITY IDEOGRAPH" do not
  map cleanly to scripts, and ``unicodedata`` has no Script property. ``regex`` is
  only used once per script, to build a code point -> script-id table (~5 ms per
  script, cached); a batch is then one UTF-32 encoding, one table lookup and a
  ``bincount``, with no Python work per character or per text beyond encoding.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["clean_texts", "letter_stats", "script_table"]

_CODE_POINTS = 0x110000

# One pass each over the whole batch joined by NUL: no pattern crosses a NUL.
_FENCE = re.compile(r"(```|~~~)[^\x00]*?(?:\1|(?=\x00)|\Z)")  # an unclosed fence runs to the end
_INLINE_CODE = re.compile(r"`[^`\x00\n]*`")
_MATH = re.compile(
    r"\$\$[^\x00]*?\$\$|\\\[[^\x00]*?\\\]|\\\([^\x00]*?\\\)|\$[^$\x00\n]+\$|\\[A-Za-z]+"
)
_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"[^\S\x00]+")


def clean_texts(texts: Sequence[str], *, strip_math: bool = True) -> list[str]:
    """Remove code blocks, inline code, URLs (and maths) and collapse white space.

    Parameters
    ----------
    texts : sequence of str
        Model answers.
    strip_math : bool, default True
        Also remove LaTeX maths (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``)
        and commands such as ``\\boxed``, whose Latin letters would otherwise count
        against non-Latin answers.

    Returns
    -------
    list of str
        The cleaned texts, stripped of leading and trailing white space.

    Examples
    --------
    >>> clean_texts(["Hallo ```python\\nprint(1)\\n``` Welt  `x`", "Also $\\\\frac{1}{2}$."])
    ['Hallo Welt', 'Also .']
    """
    joined = "\x00".join(text.replace("\x00", " ") for text in texts)
    joined = _INLINE_CODE.sub(" ", _FENCE.sub(" ", joined))
    joined = _URL.sub(" ", joined)
    if strip_math:
        joined = _MATH.sub(" ", joined)
    return [text.strip() for text in _SPACE.sub(" ", joined).split("\x00")][: len(texts)]


def _regex_module():
    try:
        import regex
    except ImportError:
        raise ImportError(
            "the script check needs the 'regex' package (Unicode Script property): "
            "pip install regex"
        ) from None
    return regex


@functools.cache
def _all_code_points() -> str:
    points = np.arange(_CODE_POINTS, dtype=np.uint32)
    points[0xD800:0xE000] = 0x20  # surrogates cannot be encoded
    return points.tobytes().decode("utf-32-le")


@functools.cache
def _mask(pattern: str) -> np.ndarray:
    """Boolean table over all code points of those matching ``pattern`` (read-only)."""
    mask = np.zeros(_CODE_POINTS, dtype=bool)
    for match in _regex_module().finditer(pattern + "+", _all_code_points()):
        mask[match.start() : match.end()] = True
    mask.flags.writeable = False
    return mask


def _letters() -> np.ndarray:
    """Letters and marks of a real script (not Common, Inherited or Unknown)."""
    return _mask(r"(?V1)[[\p{L}\p{M}]--[\p{Script=Zyyy}\p{Script=Zinh}\p{Script=Zzzz}]]")


def script_table(scripts: Sequence[str]) -> np.ndarray:
    """Code point -> 1 + index into ``scripts`` of its script, 0 for anything else.

    Parameters
    ----------
    scripts : sequence of str
        ISO 15924 Unicode Script values, e.g. ``["Latn", "Hira"]``; at most 255.

    Returns
    -------
    numpy.ndarray of uint8, shape (0x110000,)
        Only letters (see the module notes) get a non-zero id.

    Examples
    --------
    >>> table = script_table(["Latn", "Hira"])
    >>> table[[ord("a"), ord("あ"), ord("1"), ord("ー")]].tolist()
    [1, 2, 0, 0]
    """
    if len(scripts) > 255:
        raise ValueError(f"at most 255 scripts fit a uint8 table, got {len(scripts)}")
    regex = _regex_module()
    table = np.zeros(_CODE_POINTS, dtype=np.uint8)
    for i, script in enumerate(scripts, start=1):
        try:
            regex.compile(rf"\p{{Script={script}}}")
        except regex.error:
            raise ValueError(f"unknown Unicode script {script!r}; use ISO 15924 codes") from None
        table[_mask(rf"\p{{Script={script}}}")] = i
    table[~_letters()] = 0
    return table


def letter_stats(
    texts: Sequence[str], table: np.ndarray, allowed: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Letter count, letter share and allowed-script share of every text.

    Parameters
    ----------
    texts : sequence of str
        Cleaned texts, B of them.
    table : numpy.ndarray of uint8
        From :func:`script_table`.
    allowed : numpy.ndarray of bool, shape (L, 1 + number of scripts)
        ``allowed[l, s]``: script id ``s`` is allowed for language row ``l``
        (column 0, "not a letter", is ignored).
    rows : numpy.ndarray of int, shape (B,)
        Language row requested for each text.

    Returns
    -------
    letters : numpy.ndarray of int, shape (B,)
        Letters of a real script (any script, even those not in ``table``).
    letter_share : numpy.ndarray of float, shape (B,)
        Letters over non-space characters; 0 for an empty text.
    script_share : numpy.ndarray of float, shape (B,)
        Letters in an allowed script over all letters; 0 without letters.

    Examples
    --------
    >>> table = script_table(["Latn", "Deva"])
    >>> allowed = np.array([[False, True, False], [False, False, True]])  # en, hi
    >>> texts = ["ab 12", "नमस्ते ok"]
    >>> letters, share, script = letter_stats(texts, table, allowed, np.array([0, 1]))
    >>> letters.tolist(), share.round(2).tolist(), script.round(2).tolist()
    ([2, 8], [0.5, 1.0], [1.0, 0.75])
    """
    size = len(texts)
    points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=size)
    owner = np.repeat(np.arange(size), lengths)
    is_letter = _letters()[points]
    spaces = np.bincount(owner, weights=points == 0x20, minlength=size)
    letters = np.bincount(owner, weights=is_letter, minlength=size)
    in_script = allowed[np.asarray(rows)[owner], table[points]] & is_letter
    hits = np.bincount(owner, weights=in_script, minlength=size)
    visible = lengths - spaces
    letter_share = np.divide(letters, visible, out=np.zeros(size), where=visible > 0)
    script_share = np.divide(hits, letters, out=np.zeros(size), where=letters > 0)
    return letters.astype(np.int64), letter_share, script_share
