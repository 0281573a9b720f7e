"""Tests for lrpo.batching: items submitted together travel as one call, answered one by one."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lrpo.batching import MicroBatcher


class Spy:
    """``send``: the result of an item is the item doubled; a list item counts its length.

    Records each call's items; ``hold=True`` keeps a call open until ``release`` is set; a
    batch holding ``"boom"`` fails whole.
    """

    def __init__(self, *, hold: bool = False) -> None:
        self.calls: list[list] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    async def __call__(self, items: list) -> list:
        self.calls.append(list(items))
        self.entered.set()
        await asyncio.to_thread(self.release.wait, 10)
        if "boom" in items:
            raise RuntimeError("the embedder fell over")
        return [ValueError(f"bad {item}") if item == "bad" else 2 * item for item in items]


def serial(spy: Spy, **settings) -> MicroBatcher:
    """The reward server's kind: one call at a time, failed batches retried item by item."""
    return MicroBatcher(spy, one_at_a_time=True, retry_alone=True, **settings)


def test_the_items_of_one_loop_turn_make_one_call_and_each_gets_its_result():
    spy = Spy()

    async def main():
        batcher = MicroBatcher(spy)
        return await asyncio.gather(
            *(batcher(i) for i in range(5)), batcher("bad"), return_exceptions=True
        )

    *results, bad = asyncio.run(main())
    assert results == [0, 2, 4, 6, 8]
    assert isinstance(bad, ValueError) and str(bad) == "bad bad"  # its own error only
    assert spy.calls == [[0, 1, 2, 3, 4, "bad"]]


def test_concurrent_batches_do_not_wait_for_each_other():
    spy = Spy(hold=True)

    async def main():
        batcher = MicroBatcher(spy)
        first = asyncio.create_task(batcher(1))
        await asyncio.to_thread(spy.entered.wait, 10)
        second = asyncio.create_task(batcher(2))
        while len(spy.calls) < 2:  # sent while the first call is still open
            await asyncio.sleep(0.01)
        spy.release.set()
        return await asyncio.gather(first, second)

    assert asyncio.run(main()) == [2, 4]
    assert spy.calls == [[1], [2]]


def test_one_at_a_time_merges_what_arrives_during_a_call_into_the_next():
    spy = Spy(hold=True)

    async def main():
        batcher = serial(spy)
        first = asyncio.create_task(batcher(1))
        await asyncio.to_thread(spy.entered.wait, 10)
        later = [asyncio.create_task(batcher(10 * i)) for i in range(1, 6)]
        await asyncio.sleep(0.05)  # all five are queued behind the held call
        spy.release.set()
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(main())
    assert spy.calls == [[1], [10, 20, 30, 40, 50]]  # five items, one call
    assert (first, later) == (2, [20, 40, 60, 80, 100])


def test_a_batch_goes_when_the_next_item_would_overflow_it():
    spy = Spy()

    async def main():
        batcher = serial(spy, max_items=4, size=len, max_wait_s=30.0)
        return await asyncio.gather(batcher([1, 2, 3]), batcher([4, 5]), batcher([6, 7]))

    start = time.perf_counter()
    results = asyncio.run(main())
    assert time.perf_counter() - start < 10.0  # neither batch waited its 30 s
    assert spy.calls == [[[1, 2, 3]], [[4, 5], [6, 7]]]  # [4, 5] waited for the next batch
    assert results == [[1, 2, 3] * 2, [4, 5] * 2, [6, 7] * 2]


def test_the_first_item_waits_for_others_to_join():
    spy = Spy()

    async def main():
        batcher = serial(spy, max_wait_s=0.5)
        first = asyncio.create_task(batcher(1))
        await asyncio.sleep(0.05)
        return await asyncio.gather(first, batcher(2))

    assert asyncio.run(main()) == [2, 4]
    assert spy.calls == [[1, 2]]


def test_a_failed_merged_call_fails_only_the_item_that_fails_alone():
    spy = Spy(hold=True)

    async def main():
        batcher = serial(spy)
        first = asyncio.create_task(batcher(1))
        await asyncio.to_thread(spy.entered.wait, 10)
        bad = asyncio.create_task(batcher("boom"))
        good_with_bad = asyncio.create_task(batcher(2))
        await asyncio.sleep(0.05)
        spy.release.set()
        outcomes = await asyncio.gather(first, bad, good_with_bad, return_exceptions=True)
        return outcomes, await batcher(3), batcher.metric_sums().values

    (first, bad, merged), after, sums = asyncio.run(main())
    assert (first, merged, after) == (2, 4, 6)  # 2 was batched with the bad one, retried alone
    assert isinstance(bad, RuntimeError) and "fell over" in str(bad)
    assert spy.calls == [[1], ["boom", 2], ["boom"], [2], [3]]
    assert sums == {"batches": 5.0, "items": 6.0}


def test_without_retry_a_failed_call_reaches_every_item_of_its_batch():
    async def main():
        batcher = MicroBatcher(Spy())
        return await asyncio.gather(batcher("boom"), batcher(1), return_exceptions=True)

    assert all(isinstance(outcome, RuntimeError) for outcome in asyncio.run(main()))


def test_a_send_that_returns_the_wrong_number_of_results_is_an_error():
    async def short(items):
        return items[1:]

    async def main():
        batcher = MicroBatcher(short)
        return await asyncio.gather(batcher(1), batcher(2), return_exceptions=True)

    for outcome in asyncio.run(main()):
        assert isinstance(outcome, RuntimeError) and "returned 1 results for 2 items" in str(
            outcome
        )


def test_close_fails_the_items_in_flight_and_queued_and_refuses_new_ones():
    spy = Spy(hold=True)

    async def main():
        batcher = serial(spy)
        in_flight = asyncio.create_task(batcher(1))
        await asyncio.to_thread(spy.entered.wait, 10)
        queued = asyncio.create_task(batcher(2))
        await asyncio.sleep(0.05)
        batcher.close("shutting down")
        spy.release.set()
        outcomes = await asyncio.gather(in_flight, queued, return_exceptions=True)
        with pytest.raises(RuntimeError, match="shutting down"):
            await batcher(3)
        return outcomes, batcher.closed

    outcomes, closed = asyncio.run(main())
    assert closed
    for outcome in outcomes:
        assert isinstance(outcome, RuntimeError) and "shutting down" in str(outcome)
    assert spy.calls == [[1]]


def test_an_item_larger_than_a_batch_is_refused_before_queueing():
    spy = Spy()
    batcher = MicroBatcher(spy, max_items=8, size=len)
    with pytest.raises(ValueError, match="9 items exceed max_items=8"):
        asyncio.run(batcher(list(range(9))))
    assert spy.calls == []


def test_threads_with_their_own_loops_share_one_batcher():
    spy = Spy()
    batcher = MicroBatcher(spy)
    results: list[list[int]] = []

    async def two(base: int) -> list[int]:
        return await asyncio.gather(batcher(base), batcher(base + 1))

    threads = [
        threading.Thread(target=lambda b=b: results.append(asyncio.run(two(b))))
        for b in (10, 20, 30)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [[20, 22], [40, 42], [60, 62]]
    assert sorted(map(sorted, spy.calls)) == [[10, 11], [20, 21], [30, 31]]  # a call per loop


def test_metric_sums_reset_starts_a_new_window():
    async def main():
        batcher = MicroBatcher(Spy())
        await asyncio.gather(batcher(1), batcher(2))
        first = batcher.metric_sums(reset=True).values
        await batcher(3)
        return first, batcher.metric_sums().values

    assert asyncio.run(main()) == ({"batches": 1.0, "items": 2.0}, {"batches": 1.0, "items": 1.0})


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"max_items": 0}, "max_items must be >= 1"), ({"max_wait_s": -1.0}, "max_wait_s must be")],
)
def test_invalid_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        MicroBatcher(Spy(), **settings)
