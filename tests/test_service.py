"""The router service: one owner, slots in arrival order, steps from completed groups."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo import LanguageRouter, RouterConfig
from lrpo.router_service import (
    Assignment,
    GroupMismatchError,
    LocalRouterClient,
    RayRouterClient,
    RouterService,
    RouterServiceError,
    RouterServiceUnavailable,
    ServiceConfig,
    connect,
)

K, K_ON = 4, 1
CONTEXTS = [
    {"language": "de", "theme": "Reasoning / Logic"},
    {"language": "ja", "theme": "Regional Knowledge", "region": "Japan"},
    {"language": "sw", "theme": "Chat / Conversational"},
]


def make_router() -> LanguageRouter:
    return LanguageRouter(
        RouterConfig(
            languages=("de", "en", "ja", "sw"),
            num_rollouts=K,
            num_on_policy=K_ON,
            update_period=1,
            ema_alpha=0.5,
            seed=3,
        )
    )


def assign(service: RouterService, group: str, context: dict, k: int) -> Assignment:
    """One slot through a fresh in-process client, as a script without an event loop asks."""
    return asyncio.run(LocalRouterClient(service).assign(group, context, k))


def report(service: RouterService, assignment: Assignment, reward: float) -> bool:
    """One rollout's reward through a fresh in-process client."""
    return asyncio.run(LocalRouterClient(service).report(assignment, reward))


def counts(service: RouterService) -> dict[str, float]:
    """The service's own counters, as its metrics log them (``router/service/<name>``)."""
    prefix = "router/service/"
    metrics = service.metric_sums().metrics()
    return {key.removeprefix(prefix): value for key, value in metrics.items() if prefix in key}


def test_group_slots_follow_the_plan_of_a_twin_router():
    service = RouterService(make_router(), groups_per_step=1)
    got = [assign(service, "q1", CONTEXTS[1], K) for _ in range(K)]
    plan = make_router().route([CONTEXTS[1]], keys=["q1@0#0"])
    assert [a.slot for a in got] == list(range(K))
    assert [a.language for a in got] == plan.languages[0].tolist()
    assert {a.ticket for a in got} == {"q1@0#0"}
    assert all(a.language == "ja" for a in got[:K_ON])
    assert all(a.prompt_language == "ja" for a in got)


def test_a_key_seen_again_opens_a_new_group_with_its_own_draws():
    service = RouterService(make_router(), groups_per_step=2)
    first = [assign(service, "q", CONTEXTS[0], K) for _ in range(K)]
    again = [assign(service, "q", CONTEXTS[0], K) for _ in range(K)]  # twice in one step
    assert (first[0].ticket, again[0].ticket, again[0].slot) == ("q@0#0", "q@0#1", 0)
    for a in first + again:
        report(service, a, 1.0)
    assert assign(service, "q", CONTEXTS[0], K).ticket == "q@1#0"  # the next epoch


def test_a_key_with_another_k_or_context_is_refused():
    service = RouterService(make_router(), groups_per_step=1)
    with pytest.raises(GroupMismatchError, match="K=8 rollouts but its plan has K=4"):
        assign(service, "q", CONTEXTS[0], 8)
    assign(service, "q", CONTEXTS[0], K)
    with pytest.raises(GroupMismatchError, match="K=2"):
        assign(service, "q", CONTEXTS[0], 2)
    with pytest.raises(GroupMismatchError, match="must identify one prompt"):
        assign(service, "q", CONTEXTS[1], K)
    with pytest.raises(TypeError, match="non-empty string"):
        assign(service, "", CONTEXTS[0], K)


def test_reports_record_one_router_step_per_groups_per_step():
    service = RouterService(make_router(), groups_per_step=2)
    twin = make_router()
    rewards = np.array([[0.1, 0.9, 0.5, 0.3], [1.0, 0.0, 0.2, 0.7]])
    tickets = []
    for g, context in enumerate(CONTEXTS[:2]):
        slots = [assign(service, f"g{g}", context, K) for _ in range(K)]
        tickets.append(slots[0].ticket)
        recorded = [report(service, a, rewards[g, a.slot]) for a in reversed(slots)]
        assert recorded == [False] * (K - 1) + [g == 1]
    twin.record(twin.route(CONTEXTS[:2], keys=tickets), rewards)
    assert service.router.step == 1
    assert service.router.state_dict() == twin.state_dict()


def test_late_rewards_and_bad_slots():
    service = RouterService(make_router(), groups_per_step=1)
    assert report(service, Assignment("nobody#0", 0, "de", "de", 0), 1.0) is False
    assert counts(service)["late_rewards"] == 1
    a = assign(service, "q", CONTEXTS[0], K)
    with pytest.raises(ValueError, match=r"slot 4 is outside 0\.\.3"):
        report(service, dataclasses.replace(a, slot=4), 1.0)
    with pytest.raises(ValueError, match="reports language 'ja', which its plan cannot hold"):
        report(service, dataclasses.replace(a, language="ja"), 1.0)  # slot 0 is K_on: 'de'
    routed = assign(service, "q", CONTEXTS[0], K)  # slot 1, past K_on
    with pytest.raises(ValueError, match=r"'xx'.*or one of the router's languages"):
        report(service, dataclasses.replace(routed, language="xx"), 1.0)
    assert counts(service)["rewards"] == 0


def test_flush_records_the_groups_completed_so_far():
    service = RouterService(make_router(), groups_per_step=10)
    assert service.flush() is False
    for _ in range(K):
        a = assign(service, "q", CONTEXTS[2], K)
        report(service, a, 1.0)
    assert service.router.step == 0
    assert service.flush() is True
    assert service.router.step == 1


@settings(max_examples=25, deadline=None)
@given(
    order=st.permutations(range(3 * K)),
    rewards=st.lists(st.floats(0, 1), min_size=3 * K, max_size=3 * K),
)
def test_the_order_rewards_arrive_in_does_not_change_the_router(order, rewards):
    def run(sequence):
        service = RouterService(make_router(), groups_per_step=3)
        slots = [assign(service, f"g{i // K}", CONTEXTS[i // K], K) for i in range(3 * K)]
        for i in sequence:
            report(service, slots[i], rewards[i])
        return service.router.state_dict()

    assert run(order) == run(range(3 * K))


def test_state_file_resumes_exactly(tmp_path):
    state, metrics = tmp_path / "router.json", tmp_path / "metrics.jsonl"

    def serve_groups(service, names):
        out = []
        for name in names:
            slots = [assign(service, name, CONTEXTS[0], K) for _ in range(K)]
            for a in slots:
                report(service, a, 0.25 * a.slot)
            out.append([a.language for a in slots])
        return out

    settings_ = {"groups_per_step": 1, "state_path": str(state), "metrics_path": str(metrics)}
    uninterrupted = serve_groups(RouterService(make_router(), groups_per_step=1), "abcab")
    first = RouterService(make_router(), **settings_)
    before = serve_groups(first, "abc")
    resumed = RouterService(make_router(), **settings_)
    assert resumed.router.step == 3
    assert before + serve_groups(resumed, "ab") == uninterrupted
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [line["router/step"] for line in lines] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_threads_share_slots_without_duplicates():
    service = RouterService(make_router(), groups_per_step=4)
    got, lock = [], threading.Lock()

    def worker():
        for g in range(8):
            a = assign(service, f"g{g}", CONTEXTS[g % 3], K)
            with lock:
                got.append(a)

    threads = [threading.Thread(target=worker) for _ in range(K)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_ticket: dict[str, list[int]] = {}
    for a in got:
        by_ticket.setdefault(a.ticket, []).append(a.slot)
    assert len(by_ticket) == 8
    assert all(sorted(slots) == list(range(K)) for slots in by_ticket.values())


def test_local_connect_shares_one_owner_per_name():
    config = ServiceConfig(name="test-local-share", groups_per_step=1)
    one = connect(config, make_router)
    two = connect(config)
    slots = asyncio.run(_assign_all(one, two))
    assert sorted(a.slot for a in slots) == list(range(K))
    assert one.service is two.service


async def _assign_all(*clients):
    return await asyncio.gather(
        *(clients[i % len(clients)].assign("q", CONTEXTS[0], K) for i in range(K))
    )


def test_unreachable_services_fail_fast_with_a_clear_message():
    with pytest.raises(RouterServiceUnavailable, match="no local router service 'nobody'"):
        connect(ServiceConfig(name="nobody", groups_per_step=1))

    class Silent:
        """A Ray actor handle whose calls never complete."""

        def __getattr__(self, name):
            class Method:
                @staticmethod
                def remote(*args):
                    return asyncio.get_running_loop().create_future()

            return Method()

    client = RayRouterClient(
        Silent(), ServiceConfig(backend="ray", timeout_s=0.05, groups_per_step=1)
    )
    with pytest.raises(RouterServiceUnavailable, match=r"did not answer open_many within 0\.05"):
        asyncio.run(client.assign("q", CONTEXTS[0], K))


def test_service_config_rejects_bad_values():
    with pytest.raises(ValueError, match="groups_per_step"):
        ServiceConfig(groups_per_step=0)
    with pytest.raises(ValueError, match="backend"):
        ServiceConfig(backend="zmq", groups_per_step=1)


class CountingService(RouterService):
    """A service that records the size of every batched call it gets."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int]] = []

    def open_many(self, requests, have=()):
        self.calls.append(("open_many", len(requests)))
        return super().open_many(requests, have)

    def report_many(self, reports):
        self.calls.append(("report_many", len(reports)))
        return super().report_many(reports)


def test_calls_of_one_loop_turn_travel_as_one_batch():
    service = CountingService(make_router(), groups_per_step=3)
    client = LocalRouterClient(service)

    async def step():
        slots = await asyncio.gather(
            *(client.assign(f"g{i // K}", CONTEXTS[i // K], K) for i in range(3 * K))
        )
        bad = client.assign("g0", CONTEXTS[0], 2)  # its error reaches only its caller
        late = client.report(Assignment("gone@0#0", 0, "de", "de", 0), 1.0)
        done = await asyncio.gather(
            *(client.report(a, 0.5) for a in slots),
            bad,
            late,
            return_exceptions=True,
        )
        return slots, done

    _, done = asyncio.run(step())
    # The K rollouts of a group are one request and one report: 3 groups, 3 of each.
    assert service.calls[0] == ("open_many", 3)
    assert sorted(service.calls[1:]) == [("open_many", 1), ("report_many", 3 + 1)]
    assert isinstance(done[-2], GroupMismatchError) and done[-1] is False
    assert done[: 3 * K].count(True) == 1 and service.router.step == 1


def test_benchmark_quick(tmp_path, benchmark_module):
    output = tmp_path / "service.json"
    results = benchmark_module("service_throughput").main(["--quick", "--output", str(output)])
    assert set(results["results"]) == {"batch", "group", "local"}
    assert json.loads(output.read_text())["results"]["local"]["rollouts_per_s"] > 0


def test_an_owner_with_other_settings_is_not_shared():
    config = ServiceConfig(name="test-other-settings", groups_per_step=1)
    connect(config, make_router)
    connect(config, make_router)  # same settings: shared
    other = make_router().config.model_copy(update={"ema_alpha": 0.1})
    with pytest.raises(RouterServiceError, match=r"other settings \(router.ema_alpha differ\)"):
        connect(config, lambda: LanguageRouter(other))
    with pytest.raises(RouterServiceError, match="groups_per_step differ"):
        connect(config.model_copy(update={"groups_per_step": 2}), make_router)


def test_groups_that_never_complete_expire():
    service = RouterService(make_router(), groups_per_step=1, expire_after_steps=1)
    stuck = assign(service, "stuck", CONTEXTS[0], K)  # its other rollouts never come
    for name in ("b", "c"):
        for a in [assign(service, name, CONTEXTS[1], K) for _ in range(K)]:
            report(service, a, 1.0)
    assert counts(service)["expired_groups"] == 1
    assert report(service, stuck, 1.0) is False
    assert counts(service)["late_rewards"] == 1
    again = assign(service, "stuck", CONTEXTS[0], K)
    assert (again.ticket, again.slot) == ("stuck@2#0", 0)
