"""Cost of routing through the router service, per rollout, against routing a batch directly.

OpenRLHF's and verl's plugins see one rollout at a time, so each rollout asks for its slot
(``assign`` before generation) and reports its reward (``report`` after scoring); the client
joins the calls of one event-loop turn. One training step of B prompts x K rollouts is timed
four ways in the same run:

- ``batch``: ``router.route(B contexts)`` and ``router.record(plan, rewards)``, as the TRL
  callback does: the baseline;
- ``group``: through a :class:`lrpo.router_service.LocalRouterClient`, one ``assign_group`` and
  one ``report_group`` per prompt, all in flight together;
- ``local``: the same client, one ``assign`` and one ``report`` per rollout, all rollouts of the
  step in flight together (as an engine's asyncio loop runs them);
- ``ray``: per rollout too, through a named Ray actor from this process (``--no-ray`` skips it).

``benchmarks.service_engines`` runs many engine processes against one owner.

    python -m benchmarks.service_throughput           # about a minute on 2 cores
    python -m benchmarks.service_throughput --quick   # seconds; what the tests run
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

from benchmarks import _harness as harness
from lrpo import LanguageRouter, RouterConfig
from lrpo.languages import REFERENCE_LANGUAGES
from lrpo.router import REFERENCE_THEMES
from lrpo.router_service import (
    LocalRouterClient,
    RouterClient,
    RouterService,
    ServiceConfig,
    connect,
)

_HERE = Path(__file__).resolve().parent
LANGUAGES = REFERENCE_LANGUAGES  # the 15 arms of the LRPO reference


@dataclass
class Args:
    seed: int = 0
    """seed of the contexts, rewards and router"""
    num_prompts: int = 256
    """B: prompts (groups) per training step"""
    num_rollouts: int = 8
    """K: rollouts per prompt"""
    repeats: int = 5
    """timed steps of each method (order alternates); the median is reported"""
    ray: bool = True
    """also time a named Ray actor (needs ray; starts a local cluster)"""
    quick: bool = False
    """a small step, two repeats, no Ray: what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "service_throughput.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.quick:
        args.num_prompts, args.repeats, args.ray = 16, 2, False
    if min(args.num_prompts, args.num_rollouts, args.repeats) < 1:
        harness.refuse("num-prompts, num-rollouts and repeats must be at least 1")
    return args


def make_router(args: Args) -> LanguageRouter:
    return LanguageRouter(
        RouterConfig(
            languages=LANGUAGES, num_rollouts=args.num_rollouts, num_on_policy=2, seed=args.seed
        )
    )


def make_contexts(seed: int, count: int) -> list[dict]:
    """``count`` prompts in the reference's languages, themes and 24 regions."""
    rng = np.random.default_rng(seed)
    themes = [t for t in REFERENCE_THEMES if t != "Translation"]
    return [
        {
            "language": str(rng.choice(LANGUAGES)),
            "theme": str(rng.choice(themes)),
            "region": f"region-{rng.integers(24)}",
        }
        for _ in range(count)
    ]


# ---------------------------------------------------------------------------- methods
def batch_step(router: LanguageRouter, contexts: list[dict], rewards: np.ndarray, step: int):
    plan = router.route(contexts, keys=[f"s{step}-g{b}" for b in range(len(contexts))])
    router.record(plan, rewards)


async def group_step(client: RouterClient, contexts: list[dict], rewards: np.ndarray, step: int):
    k = rewards.shape[1]

    async def group(b: int, context: dict) -> None:
        slots = await client.assign_group(f"s{step}-g{b}", context, k)
        await client.report_group(slots, rewards[b].tolist())

    await asyncio.gather(*(group(b, c) for b, c in enumerate(contexts)))


async def client_step(client: RouterClient, contexts: list[dict], rewards: np.ndarray, step: int):
    k = rewards.shape[1]

    async def rollout(b: int, context: dict) -> None:
        a = await client.assign(f"s{step}-g{b}", context, k)
        await client.report(a, rewards[b, a.slot])

    await asyncio.gather(*(rollout(b, c) for b, c in enumerate(contexts) for _ in range(k)))


def run(args: Args) -> dict:
    contexts = make_contexts(args.seed, args.num_prompts)
    rewards = np.random.default_rng(args.seed).random((args.num_prompts, args.num_rollouts))
    groups = args.num_prompts
    steps = itertools.count()
    router = make_router(args)
    grouped = LocalRouterClient(RouterService(make_router(args), groups_per_step=groups))
    local = LocalRouterClient(RouterService(make_router(args), groups_per_step=groups))
    methods = {
        "batch": lambda: batch_step(router, contexts, rewards, next(steps)),
        "group": lambda: asyncio.run(group_step(grouped, contexts, rewards, next(steps))),
        "local": lambda: asyncio.run(client_step(local, contexts, rewards, next(steps))),
    }
    if args.ray:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        config = ServiceConfig(backend="ray", name="bench", groups_per_step=groups)
        remote = connect(config, functools.partial(make_router, args))
        methods["ray"] = lambda: asyncio.run(client_step(remote, contexts, rewards, next(steps)))
    seconds = {name: [] for name in methods}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for name in methods if repeat % 2 else reversed(methods):
            start = time.perf_counter()
            methods[name]()
            if repeat:
                seconds[name].append(time.perf_counter() - start)
    if args.ray:
        ray.shutdown()
    rollouts = args.num_prompts * args.num_rollouts
    median = {name: float(np.median(values)) for name, values in seconds.items()}
    return {
        name: {
            "step_s": median[name],
            "us_per_rollout": 1e6 * median[name] / rollouts,
            "rollouts_per_s": rollouts / median[name],
            "vs_batch": median[name] / median["batch"],
            "seconds_all": seconds[name],
        }
        for name in methods
    }


def print_table(args: Args, result: dict) -> None:
    print(f"B={args.num_prompts} prompts x K={args.num_rollouts} rollouts per step")
    print(f"{'method':>8} {'step s':>9} {'us/rollout':>11} {'rollouts/s':>11} {'x batch':>8}")
    for name, row in result.items():
        print(
            f"{name:>8} {row['step_s']:>9.4f} {row['us_per_rollout']:>11.1f}"
            f" {row['rollouts_per_s']:>11.0f} {row['vs_batch']:>8.1f}"
        )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    return harness.run_and_record(args, run, functools.partial(print_table, args))


if __name__ == "__main__":
    main()
