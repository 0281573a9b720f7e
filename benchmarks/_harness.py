"""What every benchmark script shares: its command line, interleaved timing, the JSON record.

A benchmark is one readable script (cleanrl style): an ``Args`` dataclass whose fields are its
flags through ``tyro`` (the string under each field is its ``--help``), a seed, a table on
stdout, and a JSON file holding the settings next to the results. Run them from the repository
root as modules: ``python -m benchmarks.routing_throughput``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = ["environment", "interleaved", "refuse", "run_and_record", "settings", "write_results"]


def refuse(message: str) -> NoReturn:
    """Stop on settings that parse but make no sense together, as a usage error does."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def interleaved(
    fns: Mapping[str, Callable[[], object]], repeats: int, min_time: float = 0.0
) -> dict[str, float]:
    """Median seconds per call of each function, alternating their order every repeat.

    Each timed repeat makes enough calls to last ``min_time``, so fast calls are not lost in
    timer noise; alternating the order spreads the machine's drift over all of them.
    """
    calls = {name: _calls_for(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            start = time.perf_counter()
            for _ in range(calls[name]):
                fns[name]()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return {name: statistics.median(values) for name, values in samples.items()}


def _calls_for(fn: Callable[[], object], min_time: float) -> int:
    if min_time <= 0:
        return 1
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, int(np.ceil(min_time / max(once, 1e-9))))


def settings(args: Any, **extra: Any) -> dict[str, Any]:
    """The run's settings as JSON-safe values, to be saved beside its results."""
    values = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    return {**values, **extra}


def environment() -> dict[str, Any]:
    """The machine and library versions the numbers were measured with."""
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": len(affinity(0)) if affinity else os.cpu_count(),
    }


def write_results(path: Path | str, results: Mapping[str, Any]) -> Path:
    """Write the JSON record and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def run_and_record(
    args: Any, run: Callable[[Any], dict[str, Any]], print_table: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Seed, ``run(args)``, print its table, write the JSON record (settings, environment,
    results, wall time) to ``args.output``; returns the record."""
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (nothing should use it; seeded anyway)
    start = time.perf_counter()
    result = run(args)
    results = {
        "settings": settings(args),
        "environment": environment(),
        "results": result,
        "wall_s": time.perf_counter() - start,
    }
    print_table(result)
    write_results(args.output, results)
    return results
