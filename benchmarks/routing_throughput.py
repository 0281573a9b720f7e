"""Routing throughput of `lrpo.LanguageRouter` against a per-rollout pure-Python baseline.

Measures rollouts routed per second for several batch sizes (the router and the baseline timed
in the same run, interleaved, median of repeats), the cost of one router update over ~100
(theme, region) buckets x 15 languages, and the cost of ``record()`` per step. Each routing
cost is also given as a share of a 1 s GRPO step; batch 1 is what a router service pays to
route one group. A speed shortcut beside the router's one numpy path would have to save 1% of
either to be worth keeping.

    python -m benchmarks.routing_throughput            # full run, writes benchmarks/results/
    python -m benchmarks.routing_throughput --quick    # seconds; what the tests run
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

from benchmarks import _harness as harness
from benchmarks._reference_router import PurePythonRouter
from lrpo.languages import REFERENCE_LANGUAGES
from lrpo.router import (
    REFERENCE_THEMES,
    LanguageRouter,
    RouterConfig,
    RoutingContext,
    ThompsonRouter,
)

_HERE = Path(__file__).resolve().parent

#: 24 regions, as in the LRPO reference data.
REGIONS = (
    "Russia",
    "Japan",
    "China",
    "Arab World",
    "Germany",
    "France",
    "Spain",
    "Latin America",
    "Italy",
    "Indonesia",
    "Korea",
    "Netherlands",
    "Poland",
    "Brazil",
    "Portugal",
    "Vietnam",
    "India",
    "Turkey",
    "Africa",
    "North America",
    "United Kingdom",
    "Southeast Asia",
    "Central Asia",
    "Oceania",
)

TARGET_SPEEDUP_AT_1024 = 50.0
TARGET_UPDATE_MS = 1.0
#: A real GRPO step takes a second or more: a routing shortcut must save 1% of it to stay.
GRPO_STEP_MS = 1000.0


@dataclass
class Args:
    seed: int = 0
    """seed of the synthetic contexts, rewards and the router"""
    batch_sizes: tuple[int, ...] = (1, 64, 1024, 16384)
    """prompts per routing call"""
    num_rollouts: int = 8
    """K: rollouts per prompt"""
    num_on_policy: int = 2
    """K_on: leading rollouts kept in the prompt's language"""
    repeats: int = 9
    """timed repeats per batch size (router and baseline alternate); the median is reported"""
    min_time: float = 0.05
    """seconds each timed repeat runs at least (small batches loop several calls)"""
    warmup_steps: int = 20
    """route+record steps before timing, so the logits are learned (non-uniform)"""
    warmup_batch: int = 256
    """prompts per warm-up step (the reference's batch)"""
    multi_theme_share: float = 0.2
    """share of prompts with two themes"""
    translation_share: float = 0.1
    """share of prompts whose theme is Translation (never routed)"""
    regional_share: float = 0.3
    """share of prompts whose theme is Regional Knowledge (adds region rows)"""
    thompson: bool = True
    """also time ThompsonRouter.route"""
    update_buckets: int = 100
    """(theme, region) buckets that the timed update aggregates"""
    update_batch: int = 256
    """prompts per recorded step in the update benchmark"""
    update_min_steps: int = 5
    """recorded steps per update at least (M of the reference); more until every cell is seen"""
    update_repeats: int = 21
    """timed repeats of one update; the median is reported"""
    quick: bool = False
    """tiny sizes and repeats (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "routing_throughput.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.quick:
        args.batch_sizes = (1, 64)
        args.repeats, args.min_time, args.update_repeats = 1, 0.0, 2
        args.warmup_steps, args.warmup_batch, args.update_batch = 2, 32, 64
        args.update_buckets = 4
    return args


# ------------------------------------------------------------------ synthetic data
def make_contexts(rng: random.Random, size: int, args: Args) -> list[RoutingContext]:
    """Prompts in the 14 non-English arms; some multi-theme, some regional, some Translation."""
    languages = [code for code in REFERENCE_LANGUAGES if code != "en"]
    routable = [t for t in REFERENCE_THEMES if t not in ("Translation", "Regional Knowledge")]
    contexts = []
    for _ in range(size):
        draw = rng.random()
        if draw < args.translation_share:
            themes = ["Translation"]
        elif draw < args.translation_share + args.regional_share:
            themes = ["Regional Knowledge"]
        else:
            themes = [rng.choice(routable)]
        if themes[0] != "Translation" and rng.random() < args.multi_theme_share:
            themes.append(rng.choice([t for t in routable if t not in themes]))
        has_region = themes[0] == "Regional Knowledge" or rng.random() < 0.3
        regions = tuple(rng.sample(REGIONS, rng.choice((1, 1, 1, 2)))) if has_region else ()
        contexts.append(RoutingContext(rng.choice(languages), tuple(themes), regions))
    return contexts


def synthetic_rewards(rng: np.random.Generator, plan_languages: np.ndarray) -> np.ndarray:
    """Rewards with a per-language mean (so the router learns non-uniform logits) plus noise."""
    offsets = {code: i / len(REFERENCE_LANGUAGES) for i, code in enumerate(REFERENCE_LANGUAGES)}
    mean = np.vectorize(offsets.get, otypes=[float])(plan_languages)
    return np.clip(mean + rng.normal(0.0, 0.2, plan_languages.shape), 0.0, 1.0)


def make_config(args: Args, update_period: int = 5) -> RouterConfig:
    return RouterConfig(
        regions=REGIONS,
        num_rollouts=args.num_rollouts,
        num_on_policy=args.num_on_policy,
        update_period=update_period,
        seed=args.seed,
    )


def warm_up(router, args: Args, rng: random.Random, np_rng: np.random.Generator) -> None:
    """Route and record ``warmup_steps`` batches so the router has learned logits."""
    for _ in range(args.warmup_steps):
        plan = router.route(make_contexts(rng, args.warmup_batch, args))
        router.record(plan, synthetic_rewards(np_rng, plan.languages))


def bench_routing(args: Args) -> list[dict]:
    rng, np_rng = random.Random(args.seed), np.random.default_rng(args.seed)
    router = LanguageRouter(make_config(args))
    warm_up(router, args, rng, np_rng)
    baseline = PurePythonRouter.from_router(router, seed=args.seed)
    per_rollout = PurePythonRouter.from_router(router, seed=args.seed, softmax_per_rollout=True)
    thompson = ThompsonRouter(make_config(args)) if args.thompson else None
    if thompson is not None:
        warm_up(thompson, args, rng, np_rng)
    step = router.step
    rows = []
    for batch in args.batch_sizes:
        contexts = make_contexts(rng, batch, args)
        fns = {
            "router": lambda c=contexts: router.route(c, step=step),
            "baseline": lambda c=contexts: baseline.route(c, step),
            "per_rollout": lambda c=contexts: per_rollout.route(c, step),
        }
        if thompson is not None:
            fns["thompson"] = lambda c=contexts: thompson.route(c, step=step)
        seconds = harness.interleaved(fns, args.repeats, args.min_time)
        rollouts = batch * args.num_rollouts
        row = {"batch": batch, "rollouts": rollouts}
        for name, value in seconds.items():
            row[f"routing/{name}_rollouts_per_s"] = rollouts / value
            row[f"routing/{name}_ms_per_call"] = value * 1e3
        row["routing/speedup"] = seconds["baseline"] / seconds["router"]
        row["routing/speedup_vs_per_rollout"] = seconds["per_rollout"] / seconds["router"]
        row["routing/router_share_of_grpo_step"] = seconds["router"] * 1e3 / GRPO_STEP_MS
        rows.append(row)
    return rows


def _update_contexts(args: Args, rng: random.Random) -> list[RoutingContext]:
    """``update_batch`` prompts spread over ``update_buckets`` (theme, region) pairs."""
    routable = [t for t in REFERENCE_THEMES if t != "Translation"]
    pairs = [(t, g) for g in REGIONS for t in routable][: args.update_buckets]
    languages = [code for code in REFERENCE_LANGUAGES if code != "en"]
    return [
        RoutingContext(rng.choice(languages), (theme,), (region,))
        for theme, region in (pairs[i % len(pairs)] for i in range(args.update_batch))
    ]


def bench_update(args: Args) -> dict:
    """Median ms of one ``update()`` and of ``record()`` per step, router and baseline."""
    rng, np_rng = random.Random(args.seed + 1), np.random.default_rng(args.seed + 1)
    router = LanguageRouter(make_config(args, update_period=10**9))
    warm_up(router, args, rng, np_rng)
    router.update()
    start_state = router.state_dict()

    # Record steps until every (theme, region, language) cell has a rollout.
    steps = []
    seen: set[tuple[str, str, str]] = set()
    cells = args.update_buckets * len(REFERENCE_LANGUAGES)
    while len(steps) < args.update_min_steps or len(seen) < cells:
        contexts = _update_contexts(args, rng)
        plan = router.route(contexts)
        rewards = synthetic_rewards(np_rng, plan.languages)
        steps.append((contexts, plan, rewards))
        router.record(plan, rewards)
        seen.update(
            (c.themes[0], c.regions[0], code)
            for c, group in zip(contexts, plan.languages, strict=True)
            for code in group
        )
        if len(steps) > 200:
            raise RuntimeError(f"only {len(seen)} cells filled after 200 steps")
    rollouts = sum(plan.languages.size for _, plan, _ in steps)

    result = {
        f"update/{name}_ms": value
        for name, value in _time_window(router, start_state, steps, args.update_repeats).items()
    }
    # The reference window (M steps of update_batch prompts), whether or not it fills every cell.
    reference = _time_window(
        router, start_state, steps[: args.update_min_steps], args.update_repeats
    )
    result["update/router_update_m_steps_ms"] = reference["router_update"]
    result["update/baseline_update_m_steps_ms"] = reference["baseline_update"]
    result.update(
        {
            "update/buckets": args.update_buckets,
            "update/languages": len(REFERENCE_LANGUAGES),
            "update/steps": len(steps),
            "update/rollouts": rollouts,
            "update/m_steps": args.update_min_steps,
            "update/m_steps_rollouts": args.update_min_steps
            * args.update_batch
            * args.num_rollouts,
            "update/cells_filled": len(seen),
        }
    )
    return result


def _time_window(router, start_state: dict, steps: list, repeats: int) -> dict[str, float]:
    """Median seconds -> ms of record() per step and of one update(), router and baseline."""
    samples: dict[str, list[float]] = {
        "router_update": [],
        "router_record": [],
        "baseline_update": [],
        "baseline_record": [],
    }
    for _ in range(repeats):
        router.load_state_dict(start_state)
        baseline = PurePythonRouter.from_router(router)
        for contexts, plan, rewards in steps:
            t0 = time.perf_counter()
            router.record(plan, rewards)
            t1 = time.perf_counter()
            baseline.record(contexts, plan.languages.tolist(), rewards.tolist())
            t2 = time.perf_counter()
            samples["router_record"].append(t1 - t0)
            samples["baseline_record"].append(t2 - t1)
        t0 = time.perf_counter()
        router.update()
        t1 = time.perf_counter()
        baseline.update()
        t2 = time.perf_counter()
        samples["router_update"].append(t1 - t0)
        samples["baseline_update"].append(t2 - t1)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


# --------------------------------------------------------------------------- main
def print_table(rows: list[dict], update: dict) -> None:
    has_thompson = "routing/thompson_rollouts_per_s" in rows[0]
    header = (
        f"{'batch':>7} {'router r/s':>14} {'baseline r/s':>14} {'ratio':>8}"
        f" {'per-rollout r/s':>16} {'ratio':>8}"
    )
    header += f" {'thompson r/s':>14}" if has_thompson else ""
    header += f" {'router ms':>10} {'of 1 s step':>12}"
    print(header)
    for row in rows:
        line = (
            f"{row['batch']:>7} {row['routing/router_rollouts_per_s']:>14,.0f} "
            f"{row['routing/baseline_rollouts_per_s']:>14,.0f} {row['routing/speedup']:>7.1f}x"
            f" {row['routing/per_rollout_rollouts_per_s']:>16,.0f}"
            f" {row['routing/speedup_vs_per_rollout']:>7.1f}x"
        )
        if has_thompson:
            line += f" {row['routing/thompson_rollouts_per_s']:>14,.0f}"
        line += f" {row['routing/router_ms_per_call']:>10.3f}"
        line += f" {row['routing/router_share_of_grpo_step']:>11.3%}"
        print(line)
    print(
        f"update ({update['update/buckets']} buckets x {update['update/languages']} languages, "
        f"{update['update/rollouts']} rollouts over {update['update/steps']} steps): "
        f"router {update['update/router_update_ms']:.3f} ms, "
        f"baseline {update['update/baseline_update_ms']:.3f} ms; record per step: router "
        f"{update['update/router_record_ms']:.3f} ms, baseline "
        f"{update['update/baseline_record_ms']:.3f} ms"
    )
    print(
        f"update over the first M={update['update/m_steps']} steps "
        f"({update['update/m_steps_rollouts']} rollouts): "
        f"router {update['update/router_update_m_steps_ms']:.3f} ms, "
        f"baseline {update['update/baseline_update_m_steps_ms']:.3f} ms"
    )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (nothing should use it; seeded anyway)

    rows = bench_routing(args)
    update = bench_update(args)
    at_1024 = next((r for r in rows if r["batch"] == 1024), None)
    targets = {
        "targets/speedup_at_1024": TARGET_SPEEDUP_AT_1024,
        "targets/speedup_at_1024_met": None
        if at_1024 is None
        else at_1024["routing/speedup"] >= TARGET_SPEEDUP_AT_1024,
        "targets/speedup_vs_per_rollout_at_1024_met": None
        if at_1024 is None
        else at_1024["routing/speedup_vs_per_rollout"] >= TARGET_SPEEDUP_AT_1024,
        "targets/update_ms": TARGET_UPDATE_MS,
        "targets/update_ms_met": update["update/router_update_ms"] < TARGET_UPDATE_MS,
    }
    results = {
        "settings": harness.settings(
            args,
            languages=list(REFERENCE_LANGUAGES),
            themes=list(REFERENCE_THEMES),
            regions=list(REGIONS),
        ),
        "environment": harness.environment(),
        "routing": rows,
        "update": update,
        "targets": targets,
    }
    print_table(rows, update)
    for name, value in targets.items():
        print(f"{name}: {value}")
    harness.write_results(args.output, results)
    return results


if __name__ == "__main__":
    main()
