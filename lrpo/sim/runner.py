"""`simulate`: several routers side by side on one scenario, under raw and calibrated rewards.

Per seed, every (condition, router) sees the same prompts and reward noise; results are plain
JSON-safe dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lrpo.router import BaseRouter

from .environment import Condition, RoutingEnvironment
from .metrics import CURVE_NAMES, MetricsLog, step_metrics
from .routers import build_router, default_router_names
from .scenario import Scenario

__all__ = ["CONDITIONS", "final_window", "simulate"]

#: Both reward conditions, in report order.
CONDITIONS: tuple[Condition, ...] = ("raw", "calibrated")


def final_window(steps: int) -> int:
    """Steps at the end over which final quality, collapse and shares are averaged."""
    return max(1, steps // 4)


def simulate(
    scenario: Scenario,
    routers: Sequence[str] | None = None,
    *,
    steps: int = 400,
    batch_size: int = 128,
    seeds: Sequence[int] = (0,),
    conditions: Sequence[Condition] = CONDITIONS,
    progress: bool = True,
) -> dict[str, Any]:
    """Train each router on the scenario for ``steps`` steps, per seed and condition.

    Returns
    -------
    dict
        ``settings``, ``languages`` and ``runs[condition][router]``: ``curves`` (per-step mean
        over seeds of quality, cumulative regret, collapse, entropy), ``final`` (per seed: the
        final regret, and the other curves' mean over the final quarter), ``shares`` (over the
        final quarter, mean over seeds) and, for learning routers, ``tables`` (last seed's).

    Examples
    --------
    >>> from lrpo.sim import default_scenario
    >>> results = simulate(default_scenario(), ["monolingual"], steps=2, batch_size=4,
    ...                    progress=False)
    >>> results["runs"]["raw"]["monolingual"]["final"]["collapse"]
    [1.0]
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    routers = tuple(routers) if routers is not None else default_router_names(scenario)
    runs = [(condition, name) for condition in conditions for name in routers]
    logs: dict[tuple[str, str], list[MetricsLog]] = {run: [] for run in runs}
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    with tqdm(
        total=len(seeds) * steps, desc=f"simulate {scenario.name}", disable=not progress
    ) as bar:
        for seed in seeds:
            env = RoutingEnvironment(scenario, batch_size=batch_size, seed=seed)
            live = {run: build_router(run[1], scenario, seed=seed) for run in runs}
            for run in runs:
                logs[run].append(MetricsLog())
            for step in range(steps):
                batch = env.prompts(step)
                contexts = env.contexts(batch)
                for (condition, name), router in live.items():
                    plan = router.route(contexts, step=step)
                    rewards = env.rewards(batch, plan.arms, step=step, condition=condition)
                    router.record(plan, rewards)
                    logs[condition, name][-1].append(
                        step_metrics(env, batch, plan.arms, router.config.num_on_policy)
                    )
                bar.update()
            tables.update({run: _tables(router) for run, router in live.items() if router.learns})
    results: dict[str, Any] = {
        "scenario": scenario.name,
        "settings": {
            "steps": steps,
            "batch_size": batch_size,
            "seeds": list(seeds),
            "routers": list(routers),
            "conditions": list(conditions),
        },
        "languages": list(scenario.languages),
        "runs": {condition: {} for condition in conditions},
    }
    for (condition, name), seed_logs in logs.items():
        results["runs"][condition][name] = _summarise(seed_logs, scenario.languages, steps)
        if (condition, name) in tables:
            results["runs"][condition][name]["tables"] = tables[condition, name]
    return results


def _summarise(seed_logs: list[MetricsLog], languages: Sequence[str], steps: int) -> dict:
    """Curves averaged over seeds, final values per seed, and final language shares."""
    window = final_window(steps)
    curves = [log.curves() for log in seed_logs]
    final = {
        name: [
            float(c[name][-1]) if name == "regret" else float(np.nanmean(c[name][-window:]))
            for c in curves
        ]
        for name in CURVE_NAMES
    }
    shares = np.mean([log.shares(window) for log in seed_logs], axis=0)
    return {
        "curves": {
            name: np.mean([c[name] for c in curves], axis=0).tolist() for name in CURVE_NAMES
        },
        "final": final,
        "shares": dict(zip(languages, shares.tolist(), strict=True)),
    }


def _tables(router: BaseRouter) -> dict[str, Any]:
    """A learning router's theme (A) and region (B) rows, JSON-safe."""
    (themes, theme_rows), (regions, region_rows) = router.theme_table(), router.region_table()
    return {
        "themes": themes,
        "theme_rows": theme_rows.tolist(),
        "regions": regions,
        "region_rows": region_rows.tolist(),
    }
