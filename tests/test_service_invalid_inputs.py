"""Every bad input of the router service fails only its own call, with a clear error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_service import CONTEXTS, K, assign, counts, make_router, report

from lrpo import LanguageRouter, RouterConfig
from lrpo.router_service import (
    Assignment,
    GroupMismatchError,
    LocalRouterClient,
    RouterService,
    RouterServiceError,
    RouterServiceUnavailable,
    ServiceConfig,
    connect,
)

ANCHORS = {"Math": (1.0, 0.0), "History": (0.0, 1.0)}


def embedding_router() -> LanguageRouter:
    return LanguageRouter(
        RouterConfig(
            languages=("de", "en", "ja"),
            num_rollouts=K,
            num_on_policy=1,
            update_period=1,
            theme_input="embeddings",
            theme_anchors=ANCHORS,
            seed=5,
        )
    )


GOOD = {"language": "de", "theme_embedding": (1.0, 0.2)}
BAD = {"language": "de", "theme_embedding": (1.0, 0.2, 0.3)}  # anchors have 2 dimensions


def open_groups(service: RouterService) -> float:
    return counts(service)["open_groups"]


# --------------------------------------------------------------------- assign
def test_one_bad_context_in_a_coalesced_batch_fails_only_its_own_calls():
    service = RouterService(embedding_router(), groups_per_step=1)
    client = LocalRouterClient(service)

    async def batch():
        calls = [client.assign("good", GOOD, K) for _ in range(K)]
        calls += [client.assign("bad", BAD, K) for _ in range(2)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(batch())
    good, bad = results[:K], results[K:]
    assert all(isinstance(error, ValueError) and "2 dimensions" in str(error) for error in bad)
    # The good group got every slot, in order, with the plan a twin router gives it alone.
    twin = embedding_router().route([GOOD], keys=["good@0#0"])
    assert [a.slot for a in good] == list(range(K))
    assert [a.language for a in good] == twin.languages[0].tolist()
    assert open_groups(service) == 1  # the bad group was closed, not left open
    assert counts(service)["groups"] == 1
    for a in good:
        report(service, a, 1.0)
    assert service.router.step == 1 and open_groups(service) == 0
    # The bad key, asked again with a good context, opens a fresh group at slot 0.
    again = assign(service, "bad", GOOD, K)
    assert again.slot == 0 and again.ticket.startswith("bad@1#")


def test_a_bad_request_beside_a_routed_group_leaves_the_group_usable():
    service = RouterService(make_router(), groups_per_step=1)
    first = assign(service, "q", CONTEXTS[0], K)
    results, _ = service.open_many(
        [
            ("q", CONTEXTS[0], K, 1),
            ("q", CONTEXTS[1], K, 1),
            (5, CONTEXTS[0], K, 1),
            ("r", {"language": "de", "theme": 5}, K, 1),
            ("s", CONTEXTS[0], K),
            ("s", CONTEXTS[0], K, 0),
        ]
    )
    (run,) = results[0]
    assert (run.ticket, run.first, run.count, run.step) == (first.ticket, 1, 1, 0)
    assert isinstance(results[1], GroupMismatchError)
    assert isinstance(results[2], TypeError) and "group key" in str(results[2])
    assert isinstance(results[3], TypeError) and "'theme' must be a string" in str(results[3])
    assert isinstance(results[4], TypeError)  # a request without its count
    assert isinstance(results[5], TypeError) and "count >= 1" in str(results[5])
    assert open_groups(service) == 1


# --------------------------------------------------------------------- report
def full_group(service: RouterService, name: str = "q", context: dict = CONTEXTS[0]) -> list:
    return [assign(service, name, context, K) for _ in range(K)]


def rows(group: list[Assignment], slots: list[int], rewards: list) -> tuple:
    """The owner's report of some ``slots`` of a group (its assignments, by slot) with their
    plan's languages."""
    languages = tuple(group[slot].language for slot in slots)
    return (group[0].ticket, tuple(slots), languages, tuple(rewards))


@pytest.mark.parametrize(
    ("report", "error", "message"),
    [
        ((None, 2.0, 0.5), TypeError, "slot must be an Assignment's int slot, got 2.0"),
        ((None, True, 0.5), TypeError, "slot must be an Assignment's int slot, got True"),
        ((None, 1, "0.5"), TypeError, "reward must be a number"),
        ((5, 1, 0.5), TypeError, "ticket string"),
        ((None, K, 0.5), ValueError, r"slot 4 is outside 0\.\.3"),
        ((None, -1, 0.5), ValueError, "outside"),
    ],
)
def test_a_bad_report_in_a_batch_fails_alone_and_changes_nothing(report, error, message):
    service = RouterService(make_router(), groups_per_step=1)
    slots = full_group(service)
    ticket = slots[0].ticket
    bad = (ticket if report[0] is None else report[0], (report[1],), ("de",), (report[2],))
    results = service.report_many([rows(slots, [0], [0.5]), bad, rows(slots, [1], [0.5])])
    assert results[0] is False and results[2] is False
    with pytest.raises(error, match=message):
        raise results[1]
    assert counts(service)["rewards"] == 2
    # A report of several slots with one bad slot fails whole and takes none of them.
    joined = (bad[0], (2, *bad[1]), (slots[2].language, "de"), (0.5, *bad[3]))
    with pytest.raises(error, match=message):
        raise service.report_many([joined])[0]
    assert counts(service)["rewards"] == 2
    assert service.report_many([rows(slots, [2, 3], [0.5, 0.5])]) == [True]


def test_reports_for_slots_never_handed_out_are_refused():
    service = RouterService(make_router(), groups_per_step=1)
    first = assign(service, "q", CONTEXTS[0], K)  # slot 0 only
    results = service.report_many([(first.ticket, (k,), ("de",), (1.0,)) for k in range(K)])
    assert results[0] is False
    assert all(isinstance(r, ValueError) and "never handed out" in str(r) for r in results[1:])
    # The group did not complete early: the key keeps handing out its slots.
    rest = [assign(service, "q", CONTEXTS[0], K) for _ in range(K - 1)]
    assert [a.slot for a in rest] == [1, 2, 3] and {a.ticket for a in rest} == {first.ticket}
    assert service.router.step == 0 and counts(service)["rewards"] == 1


def test_duplicate_reports_count_once_and_the_first_reward_wins():
    service = RouterService(make_router(), groups_per_step=1)
    slots = full_group(service)
    ticket = slots[0].ticket
    reports = [rows(slots, [0], [0.9]), rows(slots, [0, 0], [0.1, 0.1])]
    assert service.report_many(reports) == [False, False]
    assert counts(service)["rewards"] == 1 and counts(service)["duplicate_rewards"] == 2
    for a in slots[1:]:
        report(service, a, 0.5)
    twin = make_router()
    twin.record(twin.route([CONTEXTS[0]], keys=[ticket]), [[0.9, 0.5, 0.5, 0.5]])
    assert service.router.state_dict() == twin.state_dict()


@st.composite
def report_streams(draw: st.DrawFn) -> list[tuple[int, float]]:
    """Every slot once, and some slots again, in any order, each with a reward."""
    extra = draw(st.lists(st.integers(0, K - 1), max_size=2 * K))
    slots = draw(st.permutations(list(range(K)) + extra))
    rewards = draw(st.lists(st.floats(0, 1), min_size=len(slots), max_size=len(slots)))
    return list(zip(slots, rewards, strict=True))


@settings(max_examples=30, deadline=None)
@given(reports=report_streams())
def test_any_stream_of_reports_records_the_first_reward_of_each_slot(reports):
    service = RouterService(make_router(), groups_per_step=1)
    group = full_group(service)
    ticket = group[0].ticket
    # The stream arrives as reports of one to three slots each.
    chunks = [reports[i : i + 3] for i in range(0, len(reports), 3)]
    service.report_many([rows(group, *zip(*chunk, strict=True)) for chunk in chunks])
    first: dict[int, float] = {}
    for slot, reward in reports:
        first.setdefault(slot, reward)
    twin = make_router()
    twin.record(twin.route([CONTEXTS[0]], keys=[ticket]), [[first[k] for k in range(K)]])
    assert service.router.state_dict() == twin.state_dict()
    assert counts(service)["rewards"] == K
    assert (
        counts(service)["duplicate_rewards"] + counts(service)["late_rewards"] == len(reports) - K
    )


# -------------------------------------------------------------------- timeout
@contextlib.contextmanager
def busy(service: RouterService) -> Iterator[None]:
    """Another thread holds the owner until the block ends, as a slow call would."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with service._locked():
            entered.set()
            release.wait(60)

    thread = threading.Thread(target=hold)
    thread.start()
    assert entered.wait(60)
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_the_local_backend_waits_at_most_timeout_s_and_never_blocks_the_loop():
    config = ServiceConfig(name="test-timeout", groups_per_step=1, timeout_s=0.2)
    client = connect(config, make_router)
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def assign_while_busy():
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        try:
            return await asyncio.wait_for(client.assign("q", CONTEXTS[0], K), timeout=60)
        finally:
            stop.set()
            await task

    refused = pytest.raises(RouterServiceUnavailable, match=r"within timeout_s=0\.2 s")
    with busy(client.service), refused:
        asyncio.run(assign_while_busy())  # wait_for's 60 s: generous, never reached
    assert ticks > 1  # the loop kept running while the owner was busy
    assert counts(client.service)["groups"] == 0  # the refused call took nothing
    assert asyncio.run(client.assign("q", CONTEXTS[0], K)).slot == 0


def test_direct_calls_on_a_busy_owner_time_out_too():
    service = RouterService(make_router(), groups_per_step=1, timeout_s=0.05)
    with busy(service):
        for call in (
            lambda: assign(service, "q", CONTEXTS[0], K),
            service.metric_sums,
            lambda: service.report_many([("q@0#0", (0,), ("de",), (1.0,))]),
            service.flush,
        ):
            with pytest.raises(RouterServiceUnavailable, match="nothing was changed"):
                call()


# ---------------------------------------------------------------------- state
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "JSONDecodeError"),
        ('{"format": true, "router": {}, "opened": {}, "counters": {}}', "'format' is True"),
        ("[1, 2]", "'format' is None"),
    ],
)
def test_a_corrupt_state_file_names_the_file_and_the_fix(tmp_path, text, problem):
    path = tmp_path / "router.json"
    path.write_text(text)
    with pytest.raises(RouterServiceError, match=problem) as caught:
        RouterService(make_router(), groups_per_step=1, state_path=str(path))
    message = str(caught.value)
    assert str(path) in message and "move the file away" in message
    config = ServiceConfig(
        name=f"test-corrupt-{len(text)}", groups_per_step=1, state_path=str(path)
    )
    with pytest.raises(RouterServiceError, match=str(path)):
        connect(config, make_router)


def service_state() -> dict:
    service = RouterService(make_router(), groups_per_step=1)
    for a in full_group(service):
        report(service, a, 0.25 * a.slot)
    return json.loads(json.dumps(service.state_dict()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(format=True), "'format' is True, not 1"),
        (lambda s: s["router"].update(format_version=True), r"format_version True is not \d"),
        (lambda s: s["router"].update(step=-1), "'step' must be an integer >= 0"),
        (lambda s: s["opened"].update(q=-2), r"'opened\.q' must be an integer >= 0"),
        (lambda s: s["counters"].update(typo=1), r"unknown names \['typo'\]"),
        (lambda s: s["counters"].update(rewards=1.5), r"'counters\.rewards' must be an integer"),
        (lambda s: s.pop("router"), "lacks its 'router' state"),
    ],
)
def test_a_tampered_service_state_is_refused_and_changes_nothing(change, message):
    state = service_state()
    change(state)
    service = RouterService(make_router(), groups_per_step=1)
    before = service.state_dict()
    with pytest.raises(ValueError, match=message):
        service.load_state_dict(state)
    assert service.state_dict() == before
    assert service.router.step == 0 and np.all(service.router.theme_table()[1] == 0.0)
