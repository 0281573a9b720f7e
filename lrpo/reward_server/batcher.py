"""`RewardBatcher`: many small concurrent requests, few large calls of the reward.

The embedder's cost per item falls with the batch size, and trainers send small requests from
many workers at once (OpenRLHF 0.11 scores one sample per request). One worker task takes the
requests queued on the event loop, merges them up to ``max_batch_items`` (waiting at most
``max_wait_s`` for more once the first arrives), scores the merged batch in a thread so the
loop keeps accepting requests, and hands each request its own slice of the result. Requests
that arrive while a batch is scored are already queued when it ends and form the next batch.
One batch is scored at a time, so the reward object is never used by two threads at once.
When a merged call fails, each of its requests is scored again alone, so only the request that
caused the failure gets it, not the strangers it was batched with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lrpo.labelled.labels import PackedLabel
from lrpo.labelled.scoring import ScoredRollouts

__all__ = ["BatchScorer", "RewardBatcher"]

#: ``scorer(responses, labels, prompts)`` over one merged batch, all three of one length.
BatchScorer = Callable[[list[str], list[PackedLabel], list[str]], ScoredRollouts]


@dataclass
class _Request:
    responses: Sequence[str]
    labels: Sequence[PackedLabel]
    prompts: Sequence[str]
    answer: asyncio.Future[ScoredRollouts] = field(repr=False)

    def __len__(self) -> int:
        return len(self.responses)


class RewardBatcher:
    """Merge concurrent requests into batched calls of ``scorer``, run in a worker thread.

    Parameters
    ----------
    scorer : callable
        ``scorer(responses, labels, prompts) -> ScoredRollouts`` for a merged batch.
    max_batch_items : int
        Most items in one call; a request is never split, so none may be larger.
    max_wait_s : float
        How long the first request of a batch waits for others to join.

    Attributes
    ----------
    batches, items : int
        Calls of ``scorer`` made and items scored by them (failed calls and the calls that
        retry the requests of a failed merged call alone included).

    Examples
    --------
    >>> import asyncio, numpy as np
    >>> from lrpo.labelled.scoring import ScoredRollouts
    >>> calls = []
    >>> def lengths(responses, labels, prompts):
    ...     calls.append(len(responses))
    ...     return ScoredRollouts(np.array([len(r) for r in responses], float), {})
    >>> async def main():
    ...     async with RewardBatcher(lengths, max_batch_items=8, max_wait_s=0.05) as batcher:
    ...         return await asyncio.gather(batcher.score(["a"], [None], [""]),
    ...                                     batcher.score(["bcd", "ef"], [None] * 2, [""] * 2))
    >>> [scored.rewards.tolist() for scored in asyncio.run(main())], calls
    ([[1.0], [3.0, 2.0]], [3])
    """

    def __init__(self, scorer: BatchScorer, *, max_batch_items: int, max_wait_s: float) -> None:
        if max_batch_items < 1:
            raise ValueError(f"max_batch_items must be >= 1, got {max_batch_items}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.scorer = scorer
        self.max_batch_items = max_batch_items
        self.max_wait_s = max_wait_s
        self.batches = 0
        self.items = 0
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._batch: list[_Request] = []  # being collected or scored
        self._held: _Request | None = None  # taken from the queue, left for the next batch

    # -------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> RewardBatcher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def running(self) -> bool:
        """Whether the worker task is alive (what the health endpoint reports)."""
        return self._worker is not None and not self._worker.done()

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        if self.running:
            return
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="lrpo-batcher")

    async def close(self) -> None:
        """Stop the worker; requests still waiting get a ``RuntimeError``."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        waiting = self._batch + ([self._held] if self._held is not None else [])
        self._batch, self._held = [], None
        while self._queue is not None and not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        _fail(waiting, RuntimeError("the reward server is shutting down"))

    # ----------------------------------------------------------------- submit
    async def score(
        self, responses: Sequence[str], labels: Sequence[PackedLabel], prompts: Sequence[str]
    ) -> ScoredRollouts:
        """This request's rewards, scored together with whatever else is queued."""
        if not len(responses) == len(labels) == len(prompts):
            raise ValueError(f"got {len(responses)} responses, {len(labels)} labels and "
                             f"{len(prompts)} prompts; give one of each per item")  # fmt: skip
        if len(responses) > self.max_batch_items:
            raise ValueError(f"{len(responses)} items exceed max_batch_items="
                             f"{self.max_batch_items}")  # fmt: skip
        if not responses:
            return ScoredRollouts(rewards=np.zeros(0), extra_logs={})
        if not self.running:
            raise RuntimeError("the batcher is not running: call start() (or use async with)")
        answer = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(responses, labels, prompts, answer))
        return await answer

    # ----------------------------------------------------------------- worker
    async def _work(self) -> None:
        while True:
            await self._settle(await self._collect())
            self._batch = []

    async def _settle(self, requests: list[_Request]) -> None:
        """Score ``requests`` in one call and answer each; when a merged call fails, retry
        each request alone, so that only the one that fails alone gets an error."""
        responses = [text for request in requests for text in request.responses]
        labels = [label for request in requests for label in request.labels]
        prompts = [text for request in requests for text in request.prompts]
        self.batches += 1
        self.items += len(responses)
        try:
            scored = await asyncio.to_thread(self.scorer, responses, labels, prompts)
            if len(scored.rewards) != len(responses):
                raise RuntimeError(f"the reward returned {len(scored.rewards)} values for "
                                   f"{len(responses)} items")  # fmt: skip
        except Exception as error:  # the worker goes on
            if len(requests) == 1:
                _fail(requests, error)
                return
            for request in requests:
                if not request.answer.done():  # its client may have gone away
                    await self._settle([request])
            return
        start = 0
        for request in requests:
            stop = start + len(request)
            if not request.answer.done():
                request.answer.set_result(_slice(scored, start, stop))
            start = stop

    async def _collect(self) -> list[_Request]:
        """The next batch: what is queued now, plus what arrives within ``max_wait_s``."""
        loop = asyncio.get_running_loop()
        if self._held is None:
            self._batch.append(await self._queue.get())
        else:
            self._batch.append(self._held)
            self._held = None
        size = len(self._batch[0])
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch_items:
            if not self._queue.empty():
                request = self._queue.get_nowait()
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if size + len(request) > self.max_batch_items:
                self._held = request
                break
            self._batch.append(request)
            size += len(request)
        return self._batch


def _slice(scored: ScoredRollouts, start: int, stop: int) -> ScoredRollouts:
    return ScoredRollouts(
        rewards=scored.rewards[start:stop],
        extra_logs={name: values[start:stop] for name, values in scored.extra_logs.items()},
    )


def _fail(requests: list[_Request], error: BaseException) -> None:
    for request in requests:
        if not request.answer.done():
            request.answer.set_exception(error)
