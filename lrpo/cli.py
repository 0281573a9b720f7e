"""The ``lrpo`` command.

Each subcommand is one ``_register_*`` function that adds its parser and sets ``handler``;
:data:`_SUBCOMMANDS` lists them, so a new command (``calibrate build``, ``calibrate report``)
is one function and one entry, and never touches the others.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]

_Subparsers = argparse._SubParsersAction  # the object add_subparsers() returns


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


# ------------------------------------------------------------------ simulate
def _register_simulate(subparsers: _Subparsers) -> None:
    from lrpo.sim import ROUTERS

    parser = subparsers.add_parser(
        "simulate",
        help="compare language routers on a simulated scenario, raw vs calibrated rewards",
        description="Train routers side by side on a simulated scenario under biased (raw) "
        "and calibrated rewards; print a table, write metrics.json and PNG plots.",
    )
    parser.add_argument(
        "--scenario", choices=("default", "fine-grained"), default="default",
        help="default: LRPO-like themes x regions; fine-grained: 1,000 embedded themes",
    )  # fmt: skip
    parser.add_argument(
        "--routers", nargs="+", choices=sorted(ROUTERS), metavar="ROUTER",
        help=f"routers to compare (default: all the scenario supports); one of {sorted(ROUTERS)}",
    )  # fmt: skip
    parser.add_argument("--steps", type=_positive_int, default=400, help="training steps")
    parser.add_argument("--batch-size", type=_positive_int, default=256, help="prompts per step")
    parser.add_argument("--seeds", type=_positive_int, default=1, help="seeds 0..N-1 to average")
    parser.add_argument("--out", type=Path, default=Path("simulate-out"), help="output folder")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.set_defaults(handler=lambda args: _run_simulate(args, parser))


def _run_simulate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lrpo.sim import (
        default_router_names,
        default_scenario,
        fine_grained_scenario,
        format_table,
        simulate,
        summary_rows,
    )

    scenario = default_scenario() if args.scenario == "default" else fine_grained_scenario()
    supported = default_router_names(scenario)
    routers = args.routers or supported
    unsupported = sorted(set(routers) - set(supported))
    if unsupported:
        parser.error(f"routers {unsupported} need theme embeddings; use --scenario fine-grained")
    started = time.perf_counter()
    results = simulate(
        scenario, routers, steps=args.steps, batch_size=args.batch_size, seeds=range(args.seeds)
    )
    results["wall_seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(results))
    written = [args.out / "metrics.json"]
    if not args.no_plots:
        from lrpo.sim.plots import save_plots

        written += save_plots(results, args.out)
    print(format_table(summary_rows(results)))
    print(
        f"\nregret: cumulative shortfall of routed rollouts vs the best language; quality and "
        f"collapse: mean over the last quarter of {args.steps} steps "
        f"({results['wall_seconds']:.1f} s)"
    )
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


# ---------------------------------------------------------------------- main
_SUBCOMMANDS: tuple[Callable[[_Subparsers], None], ...] = (_register_simulate,)


def build_parser() -> argparse.ArgumentParser:
    """The ``lrpo`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="lrpo", description="Language-routed policy optimisation tools."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrpo`` command; returns the exit status (argparse exits 2 on bad input)."""
    args = build_parser().parse_args(argv)
    return args.handler(args)
