"""The router service as a named Ray actor: one owner shared by worker processes."""

from __future__ import annotations

import asyncio
import functools
import json
import time

import numpy as np
import pytest
from test_service import CONTEXTS, K, make_router

from lrpo import LanguageRouter
from lrpo.integrations.plugin import CONFIG_ENV, RoutedRollouts
from lrpo.labelled.labels import pack_label, unpack_label
from lrpo.router_service import (
    Assignment,
    GroupMismatchError,
    RouterServiceError,
    RouterServiceUnavailable,
    ServiceConfig,
    connect,
)

ray = pytest.importorskip("ray")

#: A factory Ray can ship to the actor's process (test modules are not importable there).
FACTORY = functools.partial(LanguageRouter, make_router().config)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, namespace="lrpo-tests", log_to_driver=False)
    yield
    ray.shutdown()


def config(name: str, **overrides) -> ServiceConfig:
    settings = {"backend": "ray", "namespace": "lrpo-tests", "timeout_s": 60, "groups_per_step": 1}
    return ServiceConfig(name=name, **{**settings, **overrides})


def test_workers_share_one_owner(cluster):
    @ray.remote
    def assign_in_worker(settings: dict, group: str, context: dict) -> Assignment:
        """Runs in another process, as an engine's plugin would: connects by name only."""
        client = connect(ServiceConfig(**settings))
        return asyncio.run(client.assign(group, context, K))

    service = config("shared")
    driver = connect(service, FACTORY)
    mine = asyncio.run(driver.assign("q", CONTEXTS[1], K))
    theirs = ray.get(
        [assign_in_worker.remote(service.model_dump(), "q", CONTEXTS[1]) for _ in range(K - 1)]
    )
    group = sorted([mine, *theirs], key=lambda a: a.slot)
    assert [a.slot for a in group] == list(range(K))
    assert {a.ticket for a in group} == {"q@0#0"}
    twin = make_router()
    plan = twin.route([CONTEXTS[1]], keys=["q@0#0"])
    assert [a.language for a in group] == plan.languages[0].tolist()

    rewards = [0.3, 0.6, 0.1, 0.9]
    recorded = [asyncio.run(driver.report(a, rewards[a.slot])) for a in group]
    assert recorded == [False] * (K - 1) + [True]
    twin.record(plan, np.array([rewards]))
    metrics = asyncio.run(driver.metric_sums()).metrics()
    assert metrics["router/step"] == 1.0
    state = ray.get(ray.get_actor("shared", namespace="lrpo-tests").state_dict.remote())
    assert state["router"] == twin.state_dict()


def test_errors_of_the_owner_reach_the_client(cluster):
    client = connect(config("errors"), FACTORY)
    with pytest.raises(GroupMismatchError, match="K=3"):
        asyncio.run(client.assign("q", CONTEXTS[0], 3))


def wait_until_dead(handle) -> None:
    """``ray.kill`` returns before the actor is gone: a call made at once may still be served."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ray.get(handle.describe.remote(), timeout=10)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.05)
    raise AssertionError("the killed actor still answers after 60 s")


def test_a_missing_or_dead_owner_is_a_clear_error(cluster):
    with pytest.raises(RouterServiceUnavailable, match="no router service actor 'absent'"):
        connect(config("absent"))
    client = connect(config("doomed"), FACTORY)
    ray.kill(client.handle)
    wait_until_dead(client.handle)
    with pytest.raises(RouterServiceUnavailable, match="'doomed' is gone"):
        asyncio.run(client.assign("q", CONTEXTS[0], K))


def test_a_detached_owner_from_another_run_is_not_reused_blindly(cluster):
    connect(config("previous-run"), FACTORY)
    other = functools.partial(LanguageRouter, make_router().config.model_copy(update={"seed": 9}))
    with pytest.raises(RouterServiceError, match=r"router.seed differ.*ray.kill"):
        connect(config("previous-run"), other)


def test_engines_loading_the_plugin_alone_share_one_router(cluster, tmp_path):
    """Two 'engines' (Ray actors) read the plugin config from $LRPO_CONFIG, start the owner
    together, and route the halves of one group: one plan, slots 0..K-1, one router step."""
    settings = {
        "router": make_router().config.model_dump(mode="json"),
        "service": config("plugin-engines").model_dump(mode="json"),
    }
    path = tmp_path / "lrpo.json"
    path.write_text(json.dumps(settings))

    @ray.remote(runtime_env={"env_vars": {CONFIG_ENV: str(path)}})
    class Engine:
        async def rollouts(self, count: int) -> list[tuple[str, int, str]]:
            routed = RoutedRollouts.for_process()
            label = unpack_label(
                pack_label(language="ja", theme="Regional Knowledge", region="Japan", group="q")
            )
            got = await asyncio.gather(*(routed.assign("q", label) for _ in range(count)))
            for a in got:
                await routed.report(a, 0.5)
            return [(a.ticket, a.slot, a.language) for a in got]

    engines = [Engine.remote() for _ in range(2)]
    halves = ray.get([engine.rollouts.remote(K // 2) for engine in engines])
    got = sorted(item for half in halves for item in half)
    plan = make_router().route([CONTEXTS[1]], keys=["q@0#0"])
    assert [(ticket, slot) for ticket, slot, _ in got] == [("q@0#0", k) for k in range(K)]
    assert [language for *_, language in got] == plan.languages[0].tolist()
    state = ray.get(ray.get_actor("plugin-engines", namespace="lrpo-tests").state_dict.remote())
    assert state["router"]["step"] == 1


def test_a_corrupt_state_file_is_named_and_its_owner_removed(cluster, tmp_path):
    path = tmp_path / "router.json"
    path.write_text("{not json")
    service = config("corrupt-state", state_path=str(path))
    with pytest.raises(RouterServiceError, match=rf"could not start.*{path}.*move the file away"):
        connect(service, FACTORY)
    with pytest.raises(ValueError):  # the broken detached actor does not linger
        ray.get_actor("corrupt-state", namespace="lrpo-tests")
    path.unlink()
    client = connect(service, FACTORY)  # a fresh owner starts once the file is gone
    assert asyncio.run(client.assign("q", CONTEXTS[0], K)).slot == 0


@ray.remote
class Engine:
    """An engine process: its own client, groups run concurrently on its event loop."""

    def __init__(self, settings: dict) -> None:
        self.client = connect(ServiceConfig(**settings))

    async def whole_groups(self, groups: list[tuple[str, dict, list[float]]]) -> list[tuple]:
        """Each group's plan in one request and its K rewards in one report."""

        async def one(name: str, context: dict, rewards: list[float]) -> tuple:
            slots = await self.client.assign_group(name, context, K)
            await self.client.report_group(slots, rewards)
            return [(a.ticket, a.step, a.slot, a.language) for a in slots]

        return await asyncio.gather(*(one(*group) for group in groups))

    async def rollouts(self, rollouts: list[tuple[str, dict, list[float]]]) -> list[tuple]:
        """One request and one report per rollout, as a plugin that sees single rollouts."""

        async def one(name: str, context: dict, rewards: list[float]) -> tuple:
            a = await self.client.assign(name, context, K)
            await self.client.report(a, rewards[a.slot])
            return (a.ticket, a.step, a.slot, a.language)

        return await asyncio.gather(*(one(*rollout) for rollout in rollouts))

    async def take(self, name: str, context: dict, count: int) -> int:
        """Take ``count`` slots of a group and never report them (the engine will die)."""
        return len(
            await asyncio.gather(*(self.client.assign(name, context, K) for _ in range(count)))
        )


def test_many_engines_route_and_learn_exactly_as_one_router(cluster):
    """Three engines share each step's groups: whole groups, single rollouts, and a group
    split across two engines (as verl's chunks split one). Every slot's language and the
    router's state after every step are those of one router given the same groups."""
    groups_per_step, rng = 6, np.random.default_rng(0)
    service = config("many-engines", groups_per_step=groups_per_step)
    connect(service, FACTORY)
    engines = [Engine.remote(service.model_dump()) for _ in range(3)]
    twin = make_router()
    actor = ray.get_actor("many-engines", namespace="lrpo-tests")
    for step in range(3):
        # Rewards in eighths: sums are exact in any order, so states compare with ==.
        groups = [
            (f"s{step}g{g}", CONTEXTS[g % 3], (rng.integers(0, 9, K) / 8).tolist())
            for g in range(groups_per_step)
        ]
        split = [groups[4]] * (K // 2)
        runs = ray.get(
            [
                engines[0].whole_groups.remote(groups[:2]),
                engines[1].rollouts.remote([g for g in groups[2:4] for _ in range(K)] + split),
                engines[2].rollouts.remote(split + [groups[5]] * K),
            ]
        )
        slots = [s for run in runs[:1] for group in run for s in group] + runs[1] + runs[2]
        language = {(ticket, slot): lang for ticket, at, slot, lang in slots if at == step}
        assert len(language) == groups_per_step * K  # every slot once, all routed at this step
        tickets = [f"{name}@{step}#0" for name, *_ in groups]
        plan = twin.route([context for _, context, _ in groups], keys=tickets)
        assert [[language[t, k] for k in range(K)] for t in tickets] == plan.languages.tolist()
        twin.record(plan, [rewards for *_, rewards in groups])
        assert ray.get(actor.state_dict.remote())["router"] == twin.state_dict()
    calls = ray.get(actor.metric_sums.remote()).values["service/calls"]
    assert calls <= 2 * 3 * len(engines)  # each engine: one request and one report a step


def test_an_engine_that_dies_mid_group_does_not_block_the_step(cluster):
    service = config("dying-engine", expire_after_steps=1)
    driver = connect(service, FACTORY)
    doomed = Engine.options(max_restarts=0).remote(service.model_dump())
    assert ray.get(doomed.take.remote("doomed", CONTEXTS[0], 2)) == 2
    ray.kill(doomed)  # mid-group: its two rollouts never report, the other K - 2 never come

    async def other_groups() -> None:
        for name in ("a", "b"):
            slots = await driver.assign_group(name, CONTEXTS[1], K)
            await driver.report_group(slots, [0.5] * K)

    asyncio.run(other_groups())
    metrics = asyncio.run(driver.metric_sums()).metrics()
    assert metrics["router/step"] == 2.0  # the steps went on without the dead engine's group
    assert metrics["router/service/expired_groups"] == 1  # dropped once stale, and counted
    assert metrics["router/service/open_groups"] == 0
