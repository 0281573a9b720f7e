"""What every benchmark script shares: its command line, interleaved timing, the JSON record.

A benchmark is one readable script (cleanrl style): an ``Args`` dataclass whose fields are its
flags (the string under each field is its ``--help``), a seed, a table on stdout, and a JSON
file holding the settings next to the results.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import json
import os
import platform
import random
import statistics
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "environment",
    "field_docs",
    "interleaved",
    "parse_args",
    "run_and_record",
    "settings",
    "write_results",
]

ArgsT = TypeVar("ArgsT")


def parse_args(
    args_class: type[ArgsT],
    argv: list[str] | None,
    description: str,
    *,
    choices: Mapping[str, tuple] | None = None,
) -> tuple[ArgsT, argparse.ArgumentParser]:
    """One ``--flag`` per field of ``args_class``, typed by its default; returns the parser too.

    Booleans get ``--flag / --no-flag``; tuples take one or more values of their items' type.
    Each flag's help is the string literal under its field (see :func:`field_docs`), with the
    default.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    defaults = args_class()
    docs = field_docs(args_class)
    for field in dataclasses.fields(args_class):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        help_text = docs[field.name].replace("%", "%%") if field.name in docs else None
        if isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
        elif isinstance(default, tuple):
            kind = type(default[0]) if default else str
            parser.add_argument(flag, type=kind, nargs="+", default=list(default), help=help_text)
        else:
            options = (choices or {}).get(field.name)
            parser.add_argument(
                flag, type=type(default), default=default, choices=options, help=help_text
            )
    values = vars(parser.parse_args(argv))
    for name, value in values.items():
        if isinstance(getattr(defaults, name), tuple):
            values[name] = tuple(value)
    return args_class(**values), parser


def field_docs(args_class: type) -> dict[str, str]:
    """``{field: doc}`` from the string literal written under each field of a dataclass.

    Python keeps no such attribute docstrings at run time, so they are read from the class's
    source: the one place they are written (cleanrl's convention), never repeated as help.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(args_class)))
    body = tree.body[0].body
    docs = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


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
