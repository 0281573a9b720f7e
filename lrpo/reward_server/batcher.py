"""The reward server's micro-batcher: many small concurrent requests, few large reward calls.

The embedder's cost per item falls with the batch size, and trainers send small requests from
many workers at once (OpenRLHF 0.11 scores one sample per request). The requests in flight are
merged up to ``max_batch_items`` rollouts (the first waiting at most ``batch_wait_ms`` for
others), scored in one call of the reward in a worker thread, so that the event loop keeps
accepting requests, and each request gets its own slice of the result. One batch is scored at
a time, so the reward is never used by two threads at once; requests that arrive meanwhile form
the next batch. When a merged call fails, each of its requests is scored again alone, so only
the request that caused the failure gets the error, not the strangers it was batched with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from lrpo.batching import MicroBatcher
from lrpo.labelled.labels import PackedLabel
from lrpo.labelled.scoring import ScoredRollouts, score_labelled
from lrpo.rewards import SemanticReward

from .config import ServeConfig

__all__ = ["ScoreRequest", "reward_batcher"]


@dataclass(frozen=True)
class ScoreRequest:
    """One request's rollouts: a response, its packed label and its prompt per item."""

    responses: Sequence[str]
    labels: Sequence[PackedLabel]
    prompts: Sequence[str]

    def __len__(self) -> int:
        return len(self.responses)


def reward_batcher(
    reward: SemanticReward, config: ServeConfig
) -> MicroBatcher[ScoreRequest, ScoredRollouts]:
    """A batcher that scores the requests in flight together with ``reward``.

    Parameters
    ----------
    reward : SemanticReward
        What every request is scored with.
    config : ServeConfig
        Its ``max_batch_items`` and ``batch_wait_ms``.

    Returns
    -------
    MicroBatcher
        ``await batcher(request)`` is the request's :class:`ScoredRollouts`.
    """

    async def send(requests: list[ScoreRequest]) -> list[ScoredRollouts]:
        return await asyncio.to_thread(_score_together, reward, requests)

    return MicroBatcher(
        send,
        max_items=config.max_batch_items,
        size=len,
        max_wait_s=config.batch_wait_ms / 1000,
        one_at_a_time=True,
        retry_alone=True,
    )


def _score_together(reward: SemanticReward, requests: list[ScoreRequest]) -> list[ScoredRollouts]:
    """One call of the reward for every request, sliced back into one result per request."""
    scored = score_labelled(
        reward,
        [text for request in requests for text in request.responses],
        [label for request in requests for label in request.labels],
        prompts=[text for request in requests for text in request.prompts],
    )
    out, start = [], 0
    for request in requests:
        stop = start + len(request)
        logs = {name: values[start:stop] for name, values in scored.extra_logs.items()}
        out.append(ScoredRollouts(scored.rewards[start:stop], logs))
        start = stop
    return out
