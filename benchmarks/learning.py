"""Learning benchmark: every router on the default scenario, raw vs calibrated rewards.

Prints final cumulative regret and final mean true quality (mean ± std over seeds) per router
and condition, and writes the settings next to the results as JSON.

    python -m benchmarks.learning                       # 5 seeds, 400 steps
    python -m benchmarks.learning --steps 5 --seeds 1   # tiny budget (what the tests run)
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import tyro

from benchmarks import _harness as harness
from lrpo.sim import default_router_names, default_scenario, format_table, simulate, summary_rows


@dataclass
class Args:
    steps: int = 400
    """training steps per run"""
    batch_size: int = 256
    """prompts per step"""
    seeds: int = 5
    """seeds 0..N-1; mean and std over them"""
    scenario_seed: int = 0
    """seed of the default scenario"""
    out: str = "benchmarks/results/learning.json"
    """where the JSON goes"""
    progress: bool = True
    """show a progress bar"""


def parse_args(argv: list[str] | None = None) -> Args:
    return tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    scenario = default_scenario(args.scenario_seed)
    started = time.perf_counter()
    results = simulate(
        scenario,
        default_router_names(scenario),
        steps=args.steps,
        batch_size=args.batch_size,
        seeds=range(args.seeds),
        progress=args.progress,
    )
    rows = summary_rows(results)
    print(format_table(rows))
    report = {
        "args": dataclasses.asdict(args),
        "wall_seconds": time.perf_counter() - started,
        "summary": {
            f"{row['condition']}/{row['router']}": {
                f"router/{metric}": row[metric] for metric in ("regret", "quality", "collapse")
            }
            for row in rows
        },
        "results": results,
    }
    harness.write_results(args.out, report)
    return report


if __name__ == "__main__":
    main()
