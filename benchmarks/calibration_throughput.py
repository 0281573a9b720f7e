"""Calibration throughput of `MeanCalibrator` / `QuantileCalibrator` against a per-item loop.

Calibrated scores per second for a batch of mixed language pairs (a synthetic ordered table over
10 languages: 100 pairs), for both calibrators, against a straightforward pure-Python loop (dict
lookup of the pair's statistics, then the formula or a bisect interpolation) timed in the same
run, interleaved, median of repeats. The calibrators are timed with the language codes as numpy
str arrays and as Python lists (conversion included); the baseline gets Python lists.

    python benchmarks/calibration_throughput.py            # full run, writes benchmarks/results/
    python benchmarks/calibration_throughput.py --quick    # seconds; what the tests run
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy

from lrpo.calibration import CalibrationTable, MeanCalibrator, Provenance, QuantileCalibrator

_HERE = Path(__file__).resolve().parent
LANGUAGES = ("ar", "de", "en", "es", "fr", "ja", "ko", "ru", "zh", "pt")
TARGET_SPEEDUP = 100.0


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
    repeats: int = 5
    """timed repeats (calibrator and baseline alternate); the median is reported"""
    quick: bool = False
    """tiny sizes and repeats (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "calibration_throughput.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Args()
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    args = Args(**vars(parser.parse_args(argv)))
    if args.quick:
        args.num_scores, args.repeats = 2_000, 1
    if not 1 <= args.num_languages <= len(LANGUAGES):
        parser.error(f"--num-languages must be in 1..{len(LANGUAGES)}")
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


# ------------------------------------------------------------------------ timing
def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, alternating their order every repeat."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            start = time.perf_counter()
            fns[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench(args: Args) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    table = make_table(args, rng)
    languages = np.array(table.languages)
    refs = languages[rng.integers(0, len(languages), args.num_scores)]
    outs = languages[rng.integers(0, len(languages), args.num_scores)]
    scores = np.clip(rng.normal(0.75, 0.1, args.num_scores), -1, 1)
    ref_list, out_list, score_list = refs.tolist(), outs.tolist(), scores.tolist()
    rows = []
    for name, calibrator, baseline in (
        ("mean", MeanCalibrator().fit(table), mean_baseline(table)),
        ("quantile", QuantileCalibrator().fit(table), quantile_baseline(table)),
    ):
        expected = np.asarray(baseline(score_list, ref_list, out_list))
        got = calibrator(scores, refs, outs)
        seconds = interleaved(
            {
                "calibrator": lambda c=calibrator: c(scores, refs, outs),
                "calibrator_lists": lambda c=calibrator: c(score_list, ref_list, out_list),
                "baseline": lambda b=baseline: b(score_list, ref_list, out_list),
            },
            args.repeats,
        )
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
        f"{'baseline s/s':>14} {'speedup':>8} {'lists':>8} {'max diff':>9}"
    )
    for r in rows:
        print(
            f"{r['calibrator']:>10} {r['scores']:>9} {r['calib/scores_per_s']:>14,.0f} "
            f"{r['calib/lists_scores_per_s']:>14,.0f} {r['calib/baseline_scores_per_s']:>14,.0f} "
            f"{r['calib/speedup']:>7.1f}x {r['calib/speedup_lists']:>7.1f}x "
            f"{r['calib/max_abs_diff']:>9.1e}"
        )
    targets = {"targets/speedup": TARGET_SPEEDUP}
    for r in rows:
        targets[f"targets/{r['calibrator']}_speedup_met"] = r["calib/speedup"] >= TARGET_SPEEDUP
    results = {
        "settings": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "languages": list(LANGUAGES[: args.num_languages]),
        },
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "machine": platform.machine(),
            "processor": platform.processor(),
        },
        "throughput": rows,
        "targets": targets,
    }
    for name, value in targets.items():
        print(f"{name}: {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
