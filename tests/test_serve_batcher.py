"""Tests for the reward server's batcher: requests merge into one reward call, sliced back."""

from __future__ import annotations

import asyncio

import pytest
from test_serve import FAST, LABEL, LengthScorer

from lrpo.labelled.labels import unpack_label
from lrpo.reward_server import ServeConfig
from lrpo.reward_server.app import ScoreRequest, reward_batcher
from lrpo.rewards import SemanticReward


def test_merged_requests_get_their_own_slices_of_rewards_and_logs():
    scorer = LengthScorer()
    reward = SemanticReward(FAST, scorer=scorer)
    label = unpack_label(LABEL)
    requests = [
        ScoreRequest(["a" * i, "b" * (10 + i)], [label] * 2, ["Q: "] * 2) for i in (1, 2, 3)
    ]

    async def main():
        batcher = reward_batcher(reward, ServeConfig(reward=FAST, batch_wait_ms=50.0))
        return await asyncio.gather(*(batcher(request) for request in requests))

    results = asyncio.run(main())
    assert scorer.calls == [[text for request in requests for text in request.responses]]
    for i, scored in zip((1, 2, 3), results, strict=True):
        assert scored.rewards.tolist() == pytest.approx([0.01 * i, 0.01 * (10 + i)])
        assert scored.extra_logs["lrpo/similarity"] == pytest.approx(scored.rewards.tolist())
        assert scored.extra_logs["lrpo/routed"] == [1.0, 1.0]  # requested de, prompt in en
        assert all(len(values) == 2 for values in scored.extra_logs.values())


def test_the_batch_limit_and_wait_come_from_the_config():
    config = ServeConfig(reward=FAST, max_batch_items=16, max_items_per_request=16, batch_wait_ms=7)
    batcher = reward_batcher(SemanticReward(FAST, scorer=LengthScorer()), config)
    assert (batcher.max_items, batcher.max_wait_s) == (16, 0.007)
    assert batcher.one_at_a_time and batcher.retry_alone  # the reward is not used by two threads
