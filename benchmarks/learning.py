"""Learning benchmark: every router on the default scenario, raw vs calibrated rewards.

Prints final cumulative regret and final mean true quality (mean ± std over seeds) per router
and condition, and writes the settings next to the results as JSON.

    python benchmarks/learning.py                       # 5 seeds, 400 steps
    python benchmarks/learning.py --steps 5 --seeds 1   # tiny budget (what the tests run)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from lrpo.sim import default_router_names, default_scenario, format_table, simulate, summary_rows


@dataclass
class Args:
    steps: int = field(default=400, metadata={"help": "training steps per run"})
    batch_size: int = field(default=256, metadata={"help": "prompts per step"})
    seeds: int = field(default=5, metadata={"help": "seeds 0..N-1; mean ± std over them"})
    scenario_seed: int = field(default=0, metadata={"help": "seed of the default scenario"})
    out: str = field(
        default="benchmarks/results/learning.json", metadata={"help": "where the JSON goes"}
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})


def parse_args(argv: list[str] | None = None) -> Args:
    """Build the command line from the fields of :class:`Args`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for arg in dataclasses.fields(Args):
        flag = "--" + arg.name.replace("_", "-")
        if arg.type in (bool, "bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=arg.default,
                                help=arg.metadata["help"])  # fmt: skip
        else:
            kind = {"int": int, "str": str}[arg.type] if isinstance(arg.type, str) else arg.type
            parser.add_argument(flag, type=kind, default=arg.default, help=arg.metadata["help"])
    return Args(**vars(parser.parse_args(argv)))


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
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
