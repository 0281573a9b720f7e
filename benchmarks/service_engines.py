"""Many engines, one router owner, through Ray: groups per second, calls per group, p99 latency.

A large run has hundreds of rollout engines asking one router owner (a named Ray actor) for
plans. Here N engine processes (Ray actors, at least 16 by default) each run their groups
concurrently, as an engine's event loop runs its rollouts, against one owner on this machine;
each group asks for its plan, then reports its K rewards. Two ways of asking, timed in turn:

- ``group``: one ``assign_group`` and one ``report_group`` per group (an engine that holds
  the group's K samples, as OpenRLHF's ``generate_responses(num_samples=K)`` does);
- ``rollout``: K ``assign`` and K ``report`` calls per group, one per rollout (what a plugin
  that sees one rollout at a time makes); the client joins them into the same calls;
- ``transport``: the baseline: as ``group``, the same coroutines, batcher, pickled batches and
  Ray calls, against an actor that only unpickles each batch and answers one placeholder per
  item. What is left of the machine for lrpo's own work is the gap between the two.

Reported per way: groups per second (all engines, wall time), the owner's calls per group (its
``router/service/calls`` counter over the groups), the p50/p99 latency of a plan request as an
engine sees it, and the owner's CPU time per group (its process's, Ray's receiving and sending
included): what bounds a large run, whose engines have cores of their own. Here every process
shares this machine's cores, so the engines' own event loops are counted in the groups per
second.

    python -m benchmarks.service_engines            # about a minute on 2 cores
    python -m benchmarks.service_engines --quick    # seconds; what the tests run
"""

from __future__ import annotations

import asyncio
import functools
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import tyro

from benchmarks import _harness as harness
from benchmarks.service_throughput import LANGUAGES, make_contexts
from lrpo import LanguageRouter, RouterConfig
from lrpo.batching import MicroBatcher
from lrpo.router_service import ServiceConfig, connect

_HERE = Path(__file__).resolve().parent
WAYS = ("group", "rollout", "transport")
WIDTHS = (10, 11, 14, 12, 13, 9, 9, 16)


@dataclass
class Args:
    seed: int = 0
    """seed of the contexts, rewards and router"""
    engines: int = 16
    """engine processes (Ray actors), each with its own client"""
    groups_per_engine: int = 4096
    """groups each engine runs per timed round"""
    in_flight: int = 512
    """groups an engine keeps in flight at once (its event loop's concurrency)"""
    groups_per_step: int = 8192
    """the owner's router step: one per that many completed groups"""
    num_rollouts: int = 8
    """K: rollouts per group"""
    repeats: int = 3
    """timed rounds of each way (order alternates); the median is reported"""
    quick: bool = False
    """2 engines, few groups, one round: what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "service_engines.json")
    """where the JSON results go"""


def parse_args(argv: list[str] | None = None) -> Args:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    if args.quick:
        args.engines, args.groups_per_engine, args.in_flight, args.repeats = 2, 64, 16, 1
        args.groups_per_step = 32
    if min(args.engines, args.groups_per_engine, args.in_flight, args.repeats) < 1:
        harness.refuse("engines, groups-per-engine, in-flight and repeats must be at least 1")
    return args


def make_router(seed: int, num_rollouts: int) -> LanguageRouter:
    return LanguageRouter(
        RouterConfig(languages=LANGUAGES, num_rollouts=num_rollouts, num_on_policy=2, seed=seed)
    )


class Echo:
    """The transport baseline's owner: a pickled batch in, one placeholder per item out."""

    def __init__(self) -> None:
        self.calls = 0

    def call(self, request: bytes) -> bytes:
        self.calls += 1
        return pickle.dumps([None] * len(pickle.loads(request)), protocol=pickle.HIGHEST_PROTOCOL)

    def count(self) -> int:
        return self.calls


class Engine:
    """One engine process: a client of the owner and an event loop running groups."""

    def __init__(
        self, config: ServiceConfig, echo: object, contexts: list[dict], k: int, seed: int
    ) -> None:
        self.client = connect(config)  # the owner exists: the driver made it
        self.echo = echo
        self.contexts, self.k = contexts, k
        self.rng = np.random.default_rng(seed)

    async def _echo(self, items: list) -> list:
        request = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(await self.echo.call.remote(request))

    async def run(self, way: str, name: str, groups: int, in_flight: int) -> list[float]:
        """Run ``groups`` groups, ``in_flight`` at a time; the plan latencies in seconds."""
        k = self.k
        latencies: list[float] = []
        rewards = self.rng.random((groups, k)).tolist()
        transport = MicroBatcher(self._echo)

        async def one_group(g: int) -> None:
            context = self.contexts[g % len(self.contexts)]
            start = time.perf_counter()
            if way == "group":
                slots = await self.client.assign_group(f"{name}-{g}", context, k)
                latencies.append(time.perf_counter() - start)
                await self.client.report_group(slots, rewards[g])
                return
            if way == "transport":
                await transport((f"{name}-{g}", context, k, k))
                latencies.append(time.perf_counter() - start)
                await transport((f"{name}-{g}", tuple(range(k)), (context["language"],) * k))
                return
            slots = await asyncio.gather(
                *(self.client.assign(f"{name}-{g}", context, k) for _ in range(k))
            )
            latencies.append(time.perf_counter() - start)
            await asyncio.gather(*(self.client.report(a, rewards[g][a.slot]) for a in slots))

        async def worker(first: int) -> None:
            """One of the engine's concurrent slots, running its share of the groups."""
            for g in range(first, groups, in_flight):
                await one_group(g)

        await asyncio.gather(*(worker(w) for w in range(min(in_flight, groups))))
        return latencies


def run(args: Args) -> dict:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        return _run(args, ray)
    finally:
        ray.shutdown()


def _run(args: Args, ray) -> dict:
    config = ServiceConfig(
        backend="ray", name="bench-engines", groups_per_step=args.groups_per_step, timeout_s=120
    )
    owner = connect(config, functools.partial(make_router, args.seed, args.num_rollouts))
    owner_process = psutil.Process(ray.get(owner.handle.__ray_call__.remote(_pid)))
    contexts = make_contexts(args.seed, 256)
    echo = ray.remote(num_cpus=0)(Echo).remote()
    echo_process = psutil.Process(ray.get(echo.__ray_call__.remote(_pid)))
    engine = ray.remote(num_cpus=0)(Engine)
    engines = [
        engine.remote(config, echo, contexts, args.num_rollouts, args.seed + 1 + e)
        for e in range(args.engines)
    ]
    samples: dict[str, dict[str, list]] = {
        w: {"seconds": [], "latency": [], "calls": [], "owner_cpu_s": []} for w in WAYS
    }

    def calls() -> float:
        return asyncio.run(owner.metric_sums()).values["service/calls"]

    def echo_calls() -> float:
        return float(ray.get(echo.count.remote()))

    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for way in WAYS if repeat % 2 else reversed(WAYS):
            process, count = (
                (echo_process, echo_calls) if way == "transport" else (owner_process, calls)
            )
            before = count()
            cpu_before = _cpu_seconds(process)
            start = time.perf_counter()
            latencies = ray.get(
                [
                    e.run.remote(way, f"{way}{repeat}-e{i}", args.groups_per_engine, args.in_flight)
                    for i, e in enumerate(engines)
                ]
            )
            seconds = time.perf_counter() - start
            owner_cpu_s = _cpu_seconds(process) - cpu_before
            taken = count() - before
            if repeat:
                samples[way]["seconds"].append(seconds)
                samples[way]["latency"].extend(x for lat in latencies for x in lat)
                samples[way]["calls"].append(taken)
                samples[way]["owner_cpu_s"].append(owner_cpu_s)
    groups = args.engines * args.groups_per_engine
    out = {}
    for way, sample in samples.items():
        seconds = float(np.median(sample["seconds"]))
        latency = np.array(sample["latency"])
        out[way] = {
            "groups_per_s": groups / seconds,
            "rollouts_per_s": groups * args.num_rollouts / seconds,
            "calls_per_group": float(np.mean(sample["calls"])) / groups,
            "plan_p50_ms": 1e3 * float(np.percentile(latency, 50)),
            "plan_p99_ms": 1e3 * float(np.percentile(latency, 99)),
            "owner_us_per_group": 1e6 * float(np.median(sample["owner_cpu_s"])) / groups,
            "seconds_all": sample["seconds"],
        }
    for row in out.values():
        row["vs_transport"] = row["groups_per_s"] / out["transport"]["groups_per_s"]
    return out


def _pid(_service: object) -> int:
    return os.getpid()


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def print_table(args: Args, result: dict) -> None:
    print(
        f"{args.engines} engines x {args.groups_per_engine} groups of K={args.num_rollouts}, "
        f"{args.in_flight} in flight per engine, one owner (Ray actor)"
    )
    header = (
        "way",
        "groups/s",
        "vs transport",
        "rollouts/s",
        "calls/group",
        "p50 ms",
        "p99 ms",
        "owner us/group",
    )
    print("".join(f"{name:>{w}}" for name, w in zip(header, WIDTHS, strict=True)))
    for way, row in result.items():
        print(
            f"{way:>10}{row['groups_per_s']:>11.0f}{row['vs_transport']:>14.2f}"
            f"{row['rollouts_per_s']:>12.0f}"
            f"{row['calls_per_group']:>13.4f}{row['plan_p50_ms']:>9.1f}{row['plan_p99_ms']:>9.1f}"
            f"{row['owner_us_per_group']:>16.1f}"
        )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    return harness.run_and_record(args, run, functools.partial(print_table, args))


if __name__ == "__main__":
    main()
