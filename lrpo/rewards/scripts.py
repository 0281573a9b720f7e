"""Unicode scripts of code points, as lookup tables for vectorised text statistics.

A *letter* is a code point of category L or M of a real Unicode ``Script`` (``regex``'s; not
Common or Inherited). Words, not letters, measure a text's share of each language (a Latin
acronym has as many letters as four Han characters): scripts without spaces count characters
per word, measured on parallel UI translations (Lao, Khmer and Myanmar taken as Thai).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

__all__ = ["char_word_weights", "letters", "script_table"]

_CODE_POINTS = 0x110000

#: Characters per word of the scripts written without spaces (see the module notes).
CHARS_PER_WORD = {"Hani": 1.8, "Hira": 4.5, "Kana": 4.5} | dict.fromkeys(
    ("Thai", "Laoo", "Khmr", "Mymr"), 5.7
)


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


def letters() -> np.ndarray:
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
    table[~letters()] = 0
    return table


@functools.cache
def char_word_weights() -> np.ndarray:
    """Code point -> its share of a word in a script without spaces, 0 for every other.

    Examples
    --------
    >>> weights = char_word_weights()
    >>> round(float(weights[ord("值")]), 3), float(weights[ord("a")])
    (0.556, 0.0)
    """
    weights = np.zeros(_CODE_POINTS, dtype=np.float32)
    for script, chars in CHARS_PER_WORD.items():
        weights[_mask(rf"\p{{Script={script}}}")] = 1.0 / chars
    weights[~letters()] = 0.0
    weights.flags.writeable = False
    return weights
