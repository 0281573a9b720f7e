"""The router service as a named Ray actor: one owner shared by worker processes."""

from __future__ import annotations

import asyncio
import functools
import json

import numpy as np
import pytest
from test_service import CONTEXTS, K, make_router

from lrpo import LanguageRouter
from lrpo.integrations.plugin import CONFIG_ENV, RoutedRollouts
from lrpo.labelled.labels import pack_label, unpack_label
from lrpo.router_service import (
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
    return ServiceConfig(
        backend="ray",
        name=name,
        namespace="lrpo-tests",
        timeout_s=60,
        groups_per_step=1,
        **overrides,
    )


def test_workers_share_one_owner(cluster):
    @ray.remote
    def assign_in_worker(settings: dict, group: str, context: dict) -> tuple[str, int, str]:
        """Runs in another process, as an engine's plugin would: connects by name only."""
        client = connect(ServiceConfig(**settings))
        a = asyncio.run(client.assign(group, context, K))
        return a.ticket, a.slot, a.language

    service = config("shared")
    driver = connect(service, FACTORY)
    mine = asyncio.run(driver.assign("q", CONTEXTS[1], K))
    theirs = ray.get(
        [assign_in_worker.remote(service.model_dump(), "q", CONTEXTS[1]) for _ in range(K - 1)]
    )
    slots = sorted([mine.slot] + [slot for _, slot, _ in theirs])
    assert slots == list(range(K))
    twin = make_router()
    plan = twin.route([CONTEXTS[1]], keys=["q@0#0"])
    languages = {mine.slot: mine.language, **{slot: lang for _, slot, lang in theirs}}
    assert [languages[k] for k in range(K)] == plan.languages[0].tolist()

    rewards = [0.3, 0.6, 0.1, 0.9]
    recorded = [asyncio.run(driver.report("q@0#0", k, rewards[k])) for k in range(K)]
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


def test_a_missing_or_dead_owner_is_a_clear_error(cluster):
    with pytest.raises(RouterServiceUnavailable, match="no router service actor 'absent'"):
        connect(config("absent"))
    client = connect(config("doomed"), FACTORY)
    ray.kill(client.handle)
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
