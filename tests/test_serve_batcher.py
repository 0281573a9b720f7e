"""Tests for lrpo.reward_server.batcher: requests merge into few reward calls, sliced back."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from lrpo.labelled.scoring import ScoredRollouts
from lrpo.reward_server import RewardBatcher


class SpyScorer:
    """Reward = the response read as a number; records each call's responses; can be held."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, responses, labels, prompts) -> ScoredRollouts:
        self.calls.append(list(responses))
        self.entered.set()
        self.release.wait(timeout=10)
        if "boom" in responses:
            raise RuntimeError("the embedder fell over")
        values = np.array([float(text) for text in responses])
        return ScoredRollouts(values, {"double": (2 * values).tolist()})


def _request(*values: float) -> tuple[list[str], list[None], list[str]]:
    texts = [str(v) for v in values]
    return texts, [None] * len(texts), ["prompt"] * len(texts)


def test_requests_arriving_during_a_call_are_merged_into_the_next():
    scorer = SpyScorer(hold=True)

    async def main():
        async with RewardBatcher(scorer, max_batch_items=64, max_wait_s=0.0) as batcher:
            first = asyncio.create_task(batcher.score(*_request(1)))
            await asyncio.to_thread(scorer.entered.wait, 10)
            later = [asyncio.create_task(batcher.score(*_request(10 * i, 10 * i + 1)))
                     for i in range(1, 6)]  # fmt: skip
            await asyncio.sleep(0.05)  # all five are queued behind the held call
            scorer.release.set()
            return await first, await asyncio.gather(*later)

    first, later = asyncio.run(main())
    assert [len(call) for call in scorer.calls] == [1, 10]  # five requests, one call
    assert first.rewards.tolist() == [1.0]
    for i, scored in enumerate(later, start=1):
        assert scored.rewards.tolist() == [10.0 * i, 10.0 * i + 1]
        assert scored.extra_logs == {"double": [20.0 * i, 20.0 * i + 2]}
        assert scored.response()["scores"] == scored.response()["rewards"]


def test_a_batch_goes_when_the_next_request_would_overflow_it():
    scorer = SpyScorer()

    async def main():
        async with RewardBatcher(scorer, max_batch_items=4, max_wait_s=30.0) as batcher:
            return await asyncio.gather(batcher.score(*_request(1, 2, 3)),
                                        batcher.score(*_request(4, 5)),
                                        batcher.score(*_request(6, 7)))  # fmt: skip

    start = time.perf_counter()
    results = asyncio.run(main())
    assert time.perf_counter() - start < 10.0  # neither batch waited its 30 s
    assert scorer.calls == [["1", "2", "3"], ["4", "5", "6", "7"]]  # (4, 5) held for the next
    assert [r.rewards.tolist() for r in results] == [[1.0, 2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]


def test_the_first_request_waits_for_others_to_join():
    scorer = SpyScorer()

    async def main():
        async with RewardBatcher(scorer, max_batch_items=64, max_wait_s=0.5) as batcher:
            first = asyncio.create_task(batcher.score(*_request(1)))
            await asyncio.sleep(0.05)
            return await asyncio.gather(first, batcher.score(*_request(2)))

    results = asyncio.run(main())
    assert scorer.calls == [["1", "2"]]
    assert [r.rewards.tolist() for r in results] == [[1.0], [2.0]]


def test_a_failed_merged_call_fails_only_the_request_that_fails_alone():
    scorer = SpyScorer(hold=True)

    async def main():
        async with RewardBatcher(scorer, max_batch_items=64, max_wait_s=0.0) as batcher:
            first = asyncio.create_task(batcher.score(*_request(1)))
            await asyncio.to_thread(scorer.entered.wait, 10)
            bad = asyncio.create_task(batcher.score(["boom"], [None], [""]))
            good_with_bad = asyncio.create_task(batcher.score(*_request(2)))
            await asyncio.sleep(0.05)
            scorer.release.set()
            outcomes = await asyncio.gather(first, bad, good_with_bad, return_exceptions=True)
            return outcomes, await batcher.score(*_request(3)), batcher

    (first, bad, merged), after, batcher = asyncio.run(main())
    assert first.rewards.tolist() == [1.0]
    assert isinstance(bad, RuntimeError) and "fell over" in str(bad)
    assert merged.rewards.tolist() == [2.0]  # batched with the bad one, retried alone
    assert scorer.calls == [["1"], ["boom", "2"], ["boom"], ["2"], ["3"]]
    assert after.rewards.tolist() == [3.0]
    assert (batcher.batches, batcher.items) == (5, 6)


def test_a_reward_of_the_wrong_length_is_an_error():
    def short(responses, labels, prompts):
        return ScoredRollouts(np.zeros(len(responses) - 1), {})

    async def main():
        async with RewardBatcher(short, max_batch_items=8, max_wait_s=0.0) as batcher:
            await batcher.score(*_request(1, 2))

    with pytest.raises(RuntimeError, match="returned 1 values for 2 items"):
        asyncio.run(main())


def test_close_fails_the_requests_in_flight_and_queued():
    scorer = SpyScorer(hold=True)

    async def main():
        batcher = RewardBatcher(scorer, max_batch_items=64, max_wait_s=0.0)
        batcher.start()
        in_flight = asyncio.create_task(batcher.score(*_request(1)))
        await asyncio.to_thread(scorer.entered.wait, 10)
        queued = asyncio.create_task(batcher.score(*_request(2)))
        await asyncio.sleep(0.05)
        await batcher.close()
        scorer.release.set()
        return await asyncio.gather(in_flight, queued, return_exceptions=True), batcher.running

    outcomes, running = asyncio.run(main())
    assert not running
    for outcome in outcomes:
        assert isinstance(outcome, RuntimeError) and "shutting down" in str(outcome)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ((["1"], [None, None], ["p"]), "1 responses, 2 labels and 1 prompts"),
        (_request(*range(9)), "9 items exceed max_batch_items=8"),
    ],
)
def test_bad_requests_are_refused_before_queueing(request_, message):
    scorer = SpyScorer()

    async def main():
        async with RewardBatcher(scorer, max_batch_items=8, max_wait_s=0.0) as batcher:
            await batcher.score(*request_)

    with pytest.raises(ValueError, match=message):
        asyncio.run(main())
    assert scorer.calls == []


def test_empty_requests_cost_no_call_and_a_stopped_batcher_refuses():
    scorer = SpyScorer()
    batcher = RewardBatcher(scorer, max_batch_items=8, max_wait_s=0.0)
    assert asyncio.run(batcher.score([], [], [])).rewards.shape == (0,)
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(batcher.score(*_request(1)))
    assert scorer.calls == []


@pytest.mark.parametrize(("settings", "message"), [
    ({"max_batch_items": 0, "max_wait_s": 0.0}, "max_batch_items must be >= 1"),
    ({"max_batch_items": 1, "max_wait_s": -1.0}, "max_wait_s must be >= 0"),
])  # fmt: skip
def test_invalid_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        RewardBatcher(SpyScorer(), **settings)
