"""Parallel data from the gettext catalogues installed on a machine: UI text in many languages.

Catalogues (``<locale>/LC_MESSAGES/<domain>.mo``) hold real text by real translators in dozens
of languages, full of what chat answers hold too (technical terms inside CJK, Arabic and
Cyrillic text, placeholders, units), and ship with the system and with Python packages: a
table built from them needs no download. An item is one English message; when two domains
translate it differently, the second is a paraphrase of the first (the only same-language
equivalents offline data offers).

Domains are split by a hash of their name into ``dev`` (two thirds) and ``test`` (one third),
so a table built on ``dev`` can be evaluated on unseen domains. Django's catalogues are never
read: independent evaluations of lrpo's tables use them.
"""

from __future__ import annotations

import gettext
import importlib.util
import re
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import langcodes

from lrpo.languages import UnknownLanguageError, get_language, validate_languages

__all__ = [
    "RESERVED_DOMAINS",
    "CatalogueSplit",
    "catalogue_roots",
    "domain_split",
    "is_genuine",
    "load_gettext",
    "read_catalogues",
]

CatalogueSplit = Literal["all", "dev", "test"]
#: Catalogues whose path holds one of these words are never read (see the module notes).
RESERVED_DOMAINS = ("django",)
_PACKAGES_WITH_CATALOGUES = ("wtforms", "sphinx")
_SKIPPED_DOMAINS = ("iso_",)  # names of countries, languages and currencies: not sentences
_MNEMONIC = re.compile(r"(?<!\w)[_&](?=\w)|\(_\w\)|\(&\w\)")  # "_Open", "&Save", "(_O)"
_WORD = re.compile(r"\w+")


def catalogue_roots() -> list[Path]:
    """Folders holding ``<locale>/LC_MESSAGES/*.mo`` on this machine."""
    roots = [Path("/usr/share/locale")]
    for package in _PACKAGES_WITH_CATALOGUES:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            roots += [Path(p) / "locale" for p in spec.submodule_search_locations]
    return [root for root in roots if root.is_dir()]


def domain_split(domain: str) -> Literal["dev", "test"]:
    """The split of a catalogue domain: one third of the names hash to ``test``."""
    return "test" if zlib.crc32(domain.encode()) % 3 == 0 else "dev"


def _lrpo_code(locale: str) -> str | None:
    """The language of a locale, or None for a variant in another script (sr@latin, zh_TW).

    Regional variants in the language's usual script (pt_BR, de_CH) are kept: where two
    translate one message differently, that is a paraphrase.
    """
    if "@" in locale:  # script or spelling variants (sr@latin, en@quot)
        return None
    try:
        tag = langcodes.Language.get(locale.replace("_", "-"))
        code = get_language(tag.language).code
    except (ValueError, UnknownLanguageError):
        return None
    usual = langcodes.Language.get(code).maximize().script
    return code if tag.maximize().script == usual else None


def _clean(text: str) -> str:
    return " ".join(_MNEMONIC.sub("", text).split())


def read_catalogues(
    split: CatalogueSplit, languages: Sequence[str], roots: Sequence[Path] | None = None
) -> Iterator[tuple[str, str, str, str]]:
    """``(domain, lang, English message, translation)`` for every translated message.

    Messages are cleaned (menu mnemonics removed, white space collapsed); untranslated
    entries (the translation equals the message) are skipped, and so is every reserved
    catalogue.
    """
    wanted = set(languages) - {"en"}
    for root in catalogue_roots() if roots is None else roots:
        for path in sorted(Path(root).glob("*/LC_MESSAGES/*.mo")):
            domain, code = path.stem, _lrpo_code(path.parent.parent.name)
            if (
                code not in wanted
                or any(word in str(path).lower() for word in RESERVED_DOMAINS)
                or domain.startswith(_SKIPPED_DOMAINS)
                or (split != "all" and domain_split(domain) != split)
            ):
                continue
            try:
                with path.open("rb") as file:
                    catalogue = gettext.GNUTranslations(file)._catalog
            except (OSError, UnicodeDecodeError):  # unreadable or not UTF-8: skipped
                continue
            for source, translation in catalogue.items():
                source = source[0] if isinstance(source, tuple) else source
                if not (source and isinstance(translation, str)):
                    continue
                source, translation = _clean(source), _clean(translation)
                if translation and translation != source:
                    yield domain, code, source, translation


def is_genuine(text: str, code: str, source: str = "") -> bool:
    """Real prose of the language: letters, mostly in its scripts, not copied from ``source``.

    Names and untranslated strings fail: a translation whose words are mostly those of its
    English source, or a non-Latin translation left mostly in Latin letters.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) < 3:
        return False
    words = _WORD.findall(text.lower())
    copied = set(_WORD.findall(source.lower()))
    if code != "en" and sum(word in copied for word in words) * 2 >= len(words):
        return False
    if get_language(code).scripts == ("Latn",):
        return True
    return sum(ch.isascii() for ch in letters) <= len(letters) / 2


def load_gettext(
    languages: Sequence[str],
    *,
    split: CatalogueSplit = "dev",
    max_items: int = 1500,
    min_words: int = 3,
    seed: int = 0,
    coverage_languages: Sequence[str] | None = None,
    roots: Sequence[Path] | None = None,
):
    """Messages of the installed catalogues as a :class:`~lrpo.calibration.data.ParallelCorpus`.

    Parameters
    ----------
    languages : sequence of str
        Languages to keep (English is the message id; a language without catalogues has no
        rows).
    split : {"dev", "test", "all"}
        Domains to read (see the module notes).
    max_items : int
        Most messages kept: those with a paraphrase first, then those translated into the
        most of ``coverage_languages``, ties broken by a hash of ``(seed, message)``
        (embedding costs about 10 ms a text on 2 cores).
    min_words : int
        Fewest words of the English message (a sentence, not a menu label).
    coverage_languages : sequence of str, optional
        The languages that rank the messages (default: the shipped table's,
        :data:`~lrpo.calibration.data.DEFAULT_LANGUAGES`), so that any subset of languages
        gets the same messages: a table built for two languages matches the full one.
    """
    from .data import DEFAULT_LANGUAGES, ParallelCorpus, unit_hash

    languages = validate_languages(languages)
    coverage = set(DEFAULT_LANGUAGES if coverage_languages is None else coverage_languages)
    texts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for _, code, source, translation in read_catalogues(split, coverage | set(languages), roots):
        if len(_WORD.findall(source)) < min_words or not is_genuine(source, "en"):
            continue
        if is_genuine(translation, code, source) and translation not in texts[source][code]:
            texts[source][code].append(translation)

    def priority(source: str) -> tuple:
        found = {code: versions for code, versions in texts[source].items() if code in coverage}
        paraphrased = any(len(versions) > 1 for versions in found.values())
        return (not paraphrased, -len(found), unit_hash(f"{seed}|{source}"))

    rows = []
    for source in sorted(texts, key=priority)[:max_items]:
        if "en" in languages:
            rows.append((source, "en", source))
        chosen = {code: versions for code, versions in texts[source].items() if code in languages}
        rows += [(source, code, text) for code, versions in chosen.items() for text in versions]
    if not rows:
        raise ValueError(
            f"no gettext catalogue on this machine translates messages into {list(languages)} "
            f"(split {split!r}; roots {[str(r) for r in roots or catalogue_roots()]})"
        )
    return ParallelCorpus.from_rows(rows, source=f"gettext:{split}")
