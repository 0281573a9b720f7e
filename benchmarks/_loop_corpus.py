"""Parallel items for the closed-loop benchmark: one English message and its translations.

Built from the gettext catalogues on this machine with :func:`_gate_corpus.load_catalogues`
(Django's are never read). An item is a message id (the English text) that every benchmark
language translates in the same catalogue domain, with real prose in each (``_genuine``: letters,
mostly in the language's scripts, not copied from the English) and at least ``min_words``
words, so that items are sentences rather than single words or names. Items whose text repeats
another item's in some language are dropped, so that a "wrong" answer is never a copy of the
right one.

A language with fewer than ``min_items`` translated strings in the split is dropped; then, while
the items shared by every remaining language are fewer than ``min_items``, the language whose
removal frees the most items is dropped. Each drop is recorded with its reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks._gate_corpus import _genuine, load_catalogues
from lrpo.rewards.cleaning import strip_non_prose

__all__ = ["ParallelItems", "load_items"]


@dataclass(frozen=True)
class ParallelItems:
    """``texts[i, j]``: item ``i`` in ``languages[j]``; ``domains[i]``: its catalogue domain."""

    languages: tuple[str, ...]
    texts: np.ndarray  # (N, L) object
    domains: np.ndarray  # (N,) object
    dropped: dict[str, str]  # language -> why it was left out

    def __len__(self) -> int:
        return len(self.texts)


def _clean(text: str) -> str:
    return " ".join(text.split())


def load_items(
    split: str,
    languages: Sequence[str],
    *,
    min_items: int = 100,
    min_words: int = 3,
    max_items: int = 0,
    seed: int = 0,
) -> ParallelItems:
    """Items translated into every kept language; ``max_items > 0`` keeps a seeded sample."""
    languages = tuple(dict.fromkeys(languages))
    catalogues = load_catalogues(split, languages)
    # (domain, English message) -> {language: translation}; prose is checked lazily (it is slow).
    by_message: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for code, by_domain in catalogues.items():
        for domain, entries in by_domain.items():
            for source, text in entries.items():
                by_message[domain, source][code] = _clean(text)
    for key in by_message:
        by_message[key]["en"] = _clean(key[1])
    checked: dict[tuple, bool] = {}

    def genuine(key: tuple[str, str], code: str) -> bool:
        if (key, code) not in checked:
            if code == "en":
                ok = len(strip_non_prose(key[1]).split()) >= min_words and _genuine(key[1], "en")
            else:
                ok = _genuine(by_message[key][code], code, key[1])
            checked[key, code] = ok
        return checked[key, code]

    keys = sorted(by_message)

    def shared(codes: Sequence[str]) -> list[tuple[str, str]]:
        return [
            k
            for k in keys
            if all(c in by_message[k] for c in codes) and all(genuine(k, c) for c in ("en", *codes))
        ]

    dropped: dict[str, str] = {}
    kept = []
    for code in languages:
        count = sum(code in entries for entries in by_message.values())
        if count < min_items:
            dropped[code] = f"{count} strings in the {split!r} split (< {min_items})"
        else:
            kept.append(code)
    keys_kept = shared(kept)
    while len(keys_kept) < min_items and len(kept) > 2:
        gains = {code: len(shared([c for c in kept if c != code])) for code in kept if code != "en"}
        worst = max(gains, key=gains.get)
        dropped[worst] = (
            f"only {len(keys_kept)} items shared with the other languages "
            f"({gains[worst]} without it)"
        )
        kept.remove(worst)
        keys_kept = shared(kept)
    # Drop items whose text in some language repeats an earlier item's there.
    seen: list[set[str]] = [set() for _ in kept]
    unique = []
    for key in keys_kept:
        row = [by_message[key][code] for code in kept]
        if any(text in s for text, s in zip(row, seen, strict=True)):
            continue
        for text, s in zip(row, seen, strict=True):
            s.add(text)
        unique.append(key)
    if max_items and len(unique) > max_items:
        picks = np.random.default_rng(seed).choice(len(unique), max_items, replace=False)
        unique = [unique[i] for i in np.sort(picks)]
    texts = np.array([[by_message[k][code] for code in kept] for k in unique], dtype=object)
    domains = np.array([domain for domain, _ in unique], dtype=object)
    return ParallelItems(tuple(kept), texts.reshape(len(unique), len(kept)), domains, dropped)
