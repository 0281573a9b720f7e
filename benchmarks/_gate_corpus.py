"""A labelled corpus that looks like rollouts, built from the gettext catalogues on this machine.

Translation catalogues are real text by real translators in dozens of languages, full of what
chat answers hold too: technical terms inside CJK, Arabic, Hindi and Cyrillic text, options,
placeholders, product names, numbers and units. Nothing is downloaded or shipped: the
catalogues are read where they are installed (the system's ``/usr/share/locale``, and the
``locale`` folders of installed Python packages such as wtforms and Sphinx).

Catalogues are split by domain (``glib20``, ``coreutils``, ...) into ``dev`` (for choosing
settings) and ``test`` (held out: the gate's defaults were not tuned on it), so that a
domain's vocabulary never helps on itself. Django's catalogues are reserved for independent
checks and are never read.

Kinds of text, each requested in a language:

* ``short``: one translated string; ``answer``: 2-4 strings of one catalogue as sentences,
  decorated like a chat answer (a code block, inline code, a URL, a number with a unit, a list,
  an emoji, LaTeX). Both should pass.
* ``mixed``: one string of the language followed by two English sentences (``Latin`` or
  ``other`` script by the target); should fail.
* ``english``: an English sentence requested as the language; ``other``: a string of another
  language (the same message where there is one); both should fail.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from lrpo.calibration.catalogues import is_genuine, read_catalogues
from lrpo.rewards.cleaning import strip_non_prose

__all__ = ["Row", "build_corpus", "load_catalogues"]

_SENTENCE_END = {"zh": "。", "ja": "。", "hi": "।", "ar": ".", "fa": "."}
_CODE_BLOCK = "```python\nfor item in items:\n    print(item.name, item.size)\n```"
_DECORATIONS = (
    lambda s: f"{s}\n\n{_CODE_BLOCK}",
    lambda s: f"{s} `config.yaml`",
    lambda s: f"{s} https://example.org/docs/setup?lang=1",
    lambda s: f"{s} 3.5 GB, 120 ms, 42 %",
    lambda s: "- " + s.replace(". ", ".\n- ", 1),
    lambda s: f"{s} ✅🚀",
    lambda s: f"{s} $x^2 + \\frac{{1}}{{2}}$",
)


@dataclass(frozen=True)
class Row:
    """One labelled text."""

    language: str  # the language the text is written in (for "mixed": the first sentence's)
    requested: str
    kind: str  # short, answer, mixed, english, other
    text: str
    should_pass: bool


def load_catalogues(split: str, languages: Sequence[str]) -> dict[str, dict[str, dict[str, str]]]:
    """lrpo code -> domain -> {English message: translation}, for one split and the languages."""
    out: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for domain, code, source, translation in read_catalogues(split, languages):
        out[code][domain].setdefault(source, translation)
    return out


def _genuine(text: str, code: str, source: str = "") -> bool:
    """Real prose of the language once code, URLs and technical tokens are stripped."""
    return is_genuine(strip_non_prose(text), code, source)


def _sentence(text: str, code: str) -> str:
    text = " ".join(text.split())
    return text if text[-1:] in ".!?。！？।؟:" else text + _SENTENCE_END.get(code, ".")


def build_corpus(
    split: str,
    languages: Sequence[str],
    *,
    per_language: int,
    seed: int = 0,
    min_entries: int = 50,
) -> tuple[list[Row], list[str]]:
    """Rows of every kind for the languages with enough genuine strings, and those languages."""
    rng = random.Random(seed)
    catalogues = load_catalogues(split, languages)
    english = sorted(
        {s for by_domain in catalogues.values() for d in by_domain.values() for s in d}
    )
    english = [s for s in english if len(strip_non_prose(s).split()) >= 3 and _genuine(s, "en")]
    pools = {}
    for code, by_domain in sorted(catalogues.items()):
        pool = [
            (domain, source, text)
            for domain, entries in sorted(by_domain.items())
            for source, text in sorted(entries.items())
            if _genuine(text, code, source)
        ]
        if len(pool) >= min_entries:
            pools[code] = pool
    by_message = defaultdict(dict)
    for code, pool in pools.items():
        for domain, source, text in pool:
            by_message[domain, source][code] = text
    rows: list[Row] = []
    for code, pool in pools.items():
        sample = rng.sample(pool, min(per_language, len(pool)))
        for domain, source, text in sample:
            rows.append(Row(code, code, "short", text, True))
            siblings = [t for d, _, t in rng.sample(pool, 3) if d == domain][:2]
            answer = " ".join(_sentence(t, code) for t in [text, *siblings])
            if rng.random() < 0.6:
                answer = rng.choice(_DECORATIONS)(answer)
            rows.append(Row(code, code, "answer", answer, True))
            a, b = rng.sample(english, 2)
            rows.append(Row(code, code, "mixed", f"{text} {a} {b}", False))
            rows.append(Row("en", code, "english", rng.choice(english), False))
            others = [c for c in by_message[domain, source] if c != code]
            other = rng.choice(others) if others else rng.choice([c for c in pools if c != code])
            other_text = by_message[domain, source].get(other) or rng.choice(pools[other])[2]
            rows.append(Row(other, code, "other", other_text, False))
    for text in rng.sample(english, min(per_language, len(english))):
        rows.append(Row("en", "en", "short", text, True))
        code = rng.choice(sorted(pools))
        rows.append(Row(code, "en", "other", rng.choice(pools[code])[2], False))
    return rows, ["en", *pools]
