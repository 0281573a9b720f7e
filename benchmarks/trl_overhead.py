"""Wall time of TRL GRPO steps with `LanguageRouterCallback` against the same run without it.

Both arms train the tiny random Qwen2 (``lrpo.integrations.trl.tiny``) with ``GRPOTrainer`` on
CPU, from the same initial weights, data, seed and one cheap deterministic reward (a length
score, so the reward itself costs microseconds and is the same function in both arms). The
runs alternate plain, callback, callback, plain, ... (``harness.interleaved``); each run's
first steps are warm-up and not timed.

One step is timed from ``on_step_begin`` to the return of that step's ``trainer.log`` (which is
where the callback adds its metrics), so it holds generation, the rewards, the routing and
recording, the loss, the optimiser step and the logging. Both arms wear the same timing
wrappers around ``_generate_and_score_completions``, ``_calculate_rewards`` and ``log``, one
below and one above the callback's own wrappers: the outer minus the inner time is the
callback's own work (routing + prompt rewriting, ``record``, ``metrics``), and is ~0 in the
plain arm. The router's ``route``, ``record`` and ``distributions`` (the logged entropy) are
timed too: what is left of the callback's work is its own Python around them.
``generation_kwargs={"min_new_tokens": ...}`` makes every completion the full
``max_completion_length`` tokens in both arms; the routed prompts are longer (the directive
tag adds a few tokens), which the table reports.

    python benchmarks/trl_overhead.py            # full run, writes benchmarks/results/
    python benchmarks/trl_overhead.py --quick    # seconds; what the tests run
"""

from __future__ import annotations

import copy
import functools
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _harness as harness  # this folder is on sys.path when a script runs
import numpy as np

_HERE = Path(__file__).resolve().parent

TARGET_OVERHEAD_PCT = 2.0

#: The same small question in each language (the tiny tokenizer is trained on these texts).
QUESTIONS = {
    "de": "Wie viel ist zwei plus drei?",
    "ja": "二足す三は何ですか。",
    "sw": "Mbili jumlisha tatu ni ngapi?",
    "fr": "Combien font deux plus trois ?",
    "es": "¿Cuánto es dos más tres?",
    "en": "What is two plus three?",
}
THEMES = ("Reasoning / Logic", "General Knowledge", "Math")


@dataclass
class Args:
    seed: int = 0
    """seed of the model weights, the trainer, the router and the dataset order"""
    repeats: int = 6
    """training runs per arm (arms alternate A B B A ...); medians over runs are reported"""
    steps: int = 8
    """timed GRPO optimisation steps per run"""
    warmup_steps: int = 1
    """leading steps of each run that are not timed"""
    batch_size: int = 8
    """per_device_train_batch_size: rollouts per step (batch_size / num_generations prompts)"""
    num_generations: int = 4
    """K: rollouts per prompt (the router's num_rollouts)"""
    num_on_policy: int = 1
    """K_on: leading rollouts kept in the prompt's language"""
    max_completion_length: int = 8
    """tokens per completion (forced: min_new_tokens is the same)"""
    languages: tuple[str, ...] = ("de", "ja", "sw", "fr", "es", "en")
    """prompt languages and router arms"""
    prompts: int = 96
    """rows of the prompt dataset (cycled over languages and themes)"""
    update_period: int = 1
    """router update period M (1: an update every step, the most router work; reference: 5)"""
    logging_steps: int = 1
    """trainer logging period (1: router metrics and entropy every step, the most work; TRL's
    GRPOConfig default: 10); make warmup-steps + steps a multiple of it"""
    directive: str = "tag"
    """how a routed prompt asks for its language (tag | english | native | system)"""
    threads: int = 1
    """torch CPU threads (1 keeps the tiny model's step times steady)"""
    quick: bool = False
    """one repeat of two steps (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "trl_overhead.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args, parser = harness.parse_args(
        Args, argv, __doc__.splitlines()[0],
        choices={"directive": ("tag", "english", "native", "system")},
    )  # fmt: skip
    if args.quick:
        args.repeats, args.steps, args.warmup_steps, args.prompts = 1, 2, 1, 24
    if (args.warmup_steps + args.steps) % args.logging_steps:
        parser.error("warmup-steps + steps must be a multiple of logging-steps, so that the "
                     "last timed step ends at a log")  # fmt: skip
    return args


# ---------------------------------------------------------------------------- setup
def make_dataset(args: Args):
    """Conversational prompts with ``language`` and ``theme`` columns, languages interleaved."""
    from datasets import Dataset

    rows = []
    for i in range(args.prompts):
        code = args.languages[i % len(args.languages)]
        text = f"{QUESTIONS.get(code, QUESTIONS['en'])} ({i})"
        rows.append(
            {
                "prompt": [{"role": "user", "content": text}],
                "language": code,
                "theme": THEMES[(i // len(args.languages)) % len(THEMES)],
            }
        )
    return Dataset.from_list(rows)


def length_reward(prompts, completions, **kwargs):
    """Cheap deterministic reward: completion length in characters / 40, capped at 1."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [min(len(text) / 40.0, 1.0) for text in texts]


class Probe:
    """Per-step wall time and the time inside the wrapped methods, for one training run."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.steps: list[dict[str, float]] = []
        self._start: float | None = None
        self._step: dict[str, float] = {}

    def add(self, key: str, value: float) -> None:
        self._step[key] = self._step.get(key, 0.0) + value

    def begin(self) -> None:
        self._start, self._step = time.perf_counter(), {}

    def end(self) -> None:
        if self._start is None:
            return
        self._step["step_s"] = time.perf_counter() - self._start
        self.steps.append(self._step)
        self._start = None

    def timed(self) -> list[dict[str, float]]:
        return self.steps[self.warmup :]


def _timed(probe: Probe, key: str, method: Callable) -> Callable:
    """``method`` wrapped to add its wall time to ``probe[key]``; keeps the signature."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            probe.add(key, time.perf_counter() - start)

    return wrapper


_WRAPPED = ("_generate_and_score_completions", "_calculate_rewards", "log")
_ROUTER_METHODS = ("route", "record", "distributions")


def _wrap_layer(trainer: Any, probe: Probe, layer: str) -> None:
    for name in _WRAPPED:
        setattr(trainer, name, _timed(probe, f"{layer}/{name}", getattr(trainer, name)))


def run_arm(args: Args, arm: str, model0: Any, tokenizer: Any, dataset: Any) -> dict:
    """One training run of ``arm`` ("plain" or "callback"); per-step timings of its steps."""
    import torch
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from lrpo import LanguageRouter, RouterConfig
    from lrpo.integrations.trl import LanguageRouterCallback

    probe = Probe(args.warmup_steps)

    class StepClock(TrainerCallback):
        def on_step_begin(self, *_a, **_k):
            probe.end()  # a step that did not log ends where the next begins
            probe.begin()

    def reward(prompts, completions, **kwargs):
        return length_reward(prompts, completions, **kwargs)

    reward.__name__ = "length_reward"
    reward = _timed(probe, "reward", reward)
    with tempfile.TemporaryDirectory() as output_dir:
        config = GRPOConfig(
            output_dir=output_dir,
            use_cpu=True,
            bf16=False,
            report_to="none",
            save_strategy="no",
            logging_steps=args.logging_steps,
            disable_tqdm=True,
            seed=args.seed,
            max_steps=args.warmup_steps + args.steps,
            per_device_train_batch_size=args.batch_size,
            num_generations=args.num_generations,
            max_completion_length=args.max_completion_length,
            generation_kwargs={"min_new_tokens": args.max_completion_length},
        )
        trainer = GRPOTrainer(
            model=copy.deepcopy(model0),
            processing_class=tokenizer,
            reward_funcs=[reward],
            train_dataset=dataset,
            args=config,
            callbacks=[StepClock()],
        )
        trainer.remove_callback(PrinterCallback)  # no log dict on stdout every step
        generate = trainer._generate

        @functools.wraps(generate)
        def count_tokens(prompts):
            start = time.perf_counter()
            out = generate(prompts)
            probe.add("generate", time.perf_counter() - start)
            probe.add("prompt_tokens", sum(len(ids) for ids in out[0]))
            probe.add("completion_tokens", sum(len(ids) for ids in out[1]))
            probe.add("rollouts", len(out[0]))
            return out

        trainer._generate = count_tokens
        trainer.compute_loss = _timed(probe, "compute_loss", trainer.compute_loss)
        _wrap_layer(trainer, probe, "inner")
        router = None
        if arm == "callback":
            router = LanguageRouter(
                RouterConfig(
                    languages=list(args.languages),
                    num_rollouts=args.num_generations,
                    num_on_policy=args.num_on_policy,
                    update_period=args.update_period,
                    seed=args.seed,
                )
            )
            for name in _ROUTER_METHODS:
                setattr(router, name, _timed(probe, f"router.{name}", getattr(router, name)))
            LanguageRouterCallback(router, directive=args.directive).attach(trainer)
        _wrap_layer(trainer, probe, "outer")
        log = trainer.log

        @functools.wraps(log)
        def log_and_stop_clock(logs, *a, **k):
            out = log(logs, *a, **k)
            if "train_runtime" not in logs:
                probe.end()
            return out

        trainer.log = log_and_stop_clock
        torch.manual_seed(args.seed)
        trainer.train()
    steps = probe.timed()
    if len(steps) != args.steps:
        raise RuntimeError(f"{arm}: timed {len(steps)} steps, expected {args.steps}")
    for step in steps:
        for name in _WRAPPED:
            own = step.get(f"outer/{name}", 0.0) - step.get(f"inner/{name}", 0.0)
            step[f"callback/{name}"] = own
        step["callback_s"] = sum(step[f"callback/{name}"] for name in _WRAPPED)
        router_s = sum(step.get(f"router.{name}", 0.0) for name in _ROUTER_METHODS)
        step["callback_outside_router_s"] = step["callback_s"] - router_s
    return {"steps": steps, "router_step": None if router is None else router.step}


# ------------------------------------------------------------------------- summary
def _median(steps: list[dict], key: str) -> float:
    return statistics.median(step.get(key, 0.0) for step in steps)


def _mean(steps: list[dict], key: str) -> float:
    return statistics.fmean(step.get(key, 0.0) for step in steps)


def summarise(runs: dict[str, list[dict]]) -> dict:
    arms = {}
    for arm, arm_runs in runs.items():
        steps = [step for run in arm_runs for step in run["steps"]]
        rollouts = _mean(steps, "rollouts")
        arms[arm] = {
            "runs": len(arm_runs),
            "timed_steps": len(steps),
            "step_s_median": _median(steps, "step_s"),
            "step_s_mean": _mean(steps, "step_s"),
            "run_step_s_means": [_mean(run["steps"], "step_s") for run in arm_runs],
            "reward_s_median": _median(steps, "reward"),
            "callback_s_median": _median(steps, "callback_s"),
            "callback_s_mean": _mean(steps, "callback_s"),
            "router_route_s_median": _median(steps, "router.route"),
            "router_record_s_median": _median(steps, "router.record"),
            "router_distributions_s_median": _median(steps, "router.distributions"),
            "callback_outside_router_s_median": _median(steps, "callback_outside_router_s"),
            "callback_routing_s_median": _median(steps, "callback/_generate_and_score_completions"),
            "callback_recording_s_median": _median(steps, "callback/_calculate_rewards"),
            "callback_metrics_s_median": _median(steps, "callback/log"),
            "generate_s_median": _median(steps, "generate"),
            "compute_loss_s_median": _median(steps, "compute_loss"),
            "log_s_median": _median(steps, "outer/log"),
            "generate_and_score_s_median": _median(steps, "outer/_generate_and_score_completions"),
            "rollouts_per_step": rollouts,
            "prompt_tokens_mean": _mean(steps, "prompt_tokens") / rollouts,
            "completion_tokens_mean": _mean(steps, "completion_tokens") / rollouts,
            "router_steps": [run["router_step"] for run in arm_runs],
        }
    plain, routed = arms["plain"], arms["callback"]
    paired = [
        c / p for c, p in zip(routed["run_step_s_means"], plain["run_step_s_means"], strict=True)
    ]
    net_plain = plain["step_s_median"] - plain["reward_s_median"]
    net_routed = routed["step_s_median"] - routed["reward_s_median"]
    comparison = {
        "ratio_median": routed["step_s_median"] / plain["step_s_median"],
        "overhead_pct": 100.0 * (routed["step_s_median"] / plain["step_s_median"] - 1.0),
        "overhead_pct_beyond_reward": 100.0 * (net_routed / net_plain - 1.0),
        "paired_run_ratios": paired,
        "paired_overhead_pct_median": 100.0 * (statistics.median(paired) - 1.0),
        "callback_work_pct_of_plain_step": 100.0
        * (routed["callback_s_median"] - plain["callback_s_median"])
        / plain["step_s_median"],
        "prompt_tokens_added": routed["prompt_tokens_mean"] - plain["prompt_tokens_mean"],
    }
    return {"arms": arms, "comparison": comparison}


def print_table(summary: dict) -> None:
    arms, comp = summary["arms"], summary["comparison"]
    print(
        f"{'arm':>9} {'steps':>6} {'step ms':>9} {'mean ms':>9} {'reward ms':>10}"
        f" {'callback ms':>12} {'route ms':>9} {'record ms':>10} {'prompt tok':>11}"
        f" {'compl tok':>10} {'generate ms':>12} {'gen+score ms':>13} {'loss fwd ms':>12}"
        f" {'log ms':>7}"
    )
    for name, arm in arms.items():
        print(
            f"{name:>9} {arm['timed_steps']:>6} {arm['step_s_median'] * 1e3:>9.2f}"
            f" {arm['step_s_mean'] * 1e3:>9.2f} {arm['reward_s_median'] * 1e3:>10.3f}"
            f" {arm['callback_s_median'] * 1e3:>12.3f} {arm['router_route_s_median'] * 1e3:>9.3f}"
            f" {arm['router_record_s_median'] * 1e3:>10.3f} {arm['prompt_tokens_mean']:>11.1f}"
            f" {arm['completion_tokens_mean']:>10.1f} {arm['generate_s_median'] * 1e3:>12.2f}"
            f" {arm['generate_and_score_s_median'] * 1e3:>13.2f}"
            f" {arm['compute_loss_s_median'] * 1e3:>12.2f} {arm['log_s_median'] * 1e3:>7.2f}"
        )
    routed = arms["callback"]
    print(
        f"callback's own work per step (median ms): routing + prompt rewrite "
        f"{routed['callback_routing_s_median'] * 1e3:.3f}, record "
        f"{routed['callback_recording_s_median'] * 1e3:.3f}, metrics "
        f"{routed['callback_metrics_s_median'] * 1e3:.3f}; inside the router: route "
        f"{routed['router_route_s_median'] * 1e3:.3f}, record "
        f"{routed['router_record_s_median'] * 1e3:.3f}, distributions (entropy) "
        f"{routed['router_distributions_s_median'] * 1e3:.3f}; outside the router "
        f"{routed['callback_outside_router_s_median'] * 1e3:.3f}"
    )
    print(
        f"ratio (median step) {comp['ratio_median']:.4f}: overhead {comp['overhead_pct']:+.2f}%"
        f" ({comp['overhead_pct_beyond_reward']:+.2f}% beyond the reward); paired runs "
        f"{comp['paired_overhead_pct_median']:+.2f}% (median of "
        f"{len(comp['paired_run_ratios'])}); callback's own work "
        f"{comp['callback_work_pct_of_plain_step']:.2f}% of a plain step; routed prompts "
        f"{comp['prompt_tokens_added']:+.1f} tokens"
    )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (nothing should use it; seeded anyway)

    import torch
    import transformers

    from lrpo.integrations.trl.tiny import tiny_qwen2

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    dataset = make_dataset(args)
    texts = [m["content"] for p in dataset["prompt"] for m in p]
    model, tokenizer = tiny_qwen2(seed=args.seed, texts=texts)

    runs: dict[str, list[dict]] = {"plain": [], "callback": []}
    fns = {
        arm: lambda arm=arm: runs[arm].append(run_arm(args, arm, model, tokenizer, dataset))
        for arm in runs
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation notes
        run_seconds = harness.interleaved(fns, args.repeats)
    summary = summarise(runs)
    comparison = summary["comparison"]
    results = {
        "settings": harness.settings(
            args,
            reward="length_reward",
            model="tiny_qwen2 (2 layers, hidden 16)",
            generation_kwargs={"min_new_tokens": args.max_completion_length},
        ),
        "environment": {
            **harness.environment(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": __import__("trl").__version__,
        },
        "arms": summary["arms"],
        "comparison": comparison,
        "run_seconds_median": run_seconds,
        "targets": {
            "targets/overhead_pct": TARGET_OVERHEAD_PCT,
            "targets/overhead_pct_met": comparison["overhead_pct_beyond_reward"]
            < TARGET_OVERHEAD_PCT,
        },
    }
    print_table(summary)
    for name, value in results["targets"].items():
        print(f"{name}: {value}")
    harness.write_results(args.output, results)
    return results


if __name__ == "__main__":
    main()
