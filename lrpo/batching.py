"""`MicroBatcher`: concurrent single calls, sent on as few batched calls.

An engine starts every rollout of a batch in one event-loop turn, and a server receives many
small requests at once; whatever answers them (the router's owner, the reward model) costs far
less per item in one batched call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field
from typing import Generic, TypeVar

from lrpo.metrics import MetricSums

__all__ = ["BatchSender", "MicroBatcher"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: ``send(items) -> results``: one result per item, in order; an exception object fails its item.
BatchSender = Callable[[list[ItemT]], Awaitable[list[ResultT | Exception]]]


@dataclass
class _Waiting(Generic[ItemT]):
    item: ItemT
    size: int
    arrived: float
    answer: asyncio.Future = field(repr=False)


@dataclass
class _Lane:
    """The items waiting on one event loop (a batcher may serve threads that run their own)."""

    loop: asyncio.AbstractEventLoop
    pending: deque[_Waiting] = field(default_factory=deque)
    size: int = 0  # of the pending items
    timer: asyncio.Handle | None = None
    in_flight: dict[asyncio.Task, list[_Waiting]] = field(default_factory=dict)


@dataclass(eq=False)
class MicroBatcher(Generic[ItemT, ResultT]):
    """Send the items submitted together as one call of ``send``; each caller awaits its own.

    A batch goes when the loop turn ends, or after ``max_wait_s`` for more to join, or as soon
    as the next item would take it past ``max_items``.

    Parameters
    ----------
    send : async callable
        ``await send(items)`` returns one result per item, an exception object failing that
        item alone; when the call raises, every item of the batch gets the error.
    max_items : int, optional
        Largest batch in ``size`` units (default: no limit); an item is never split, so a
        larger one is refused.
    size : callable, optional
        ``size(item)``, the item's share of ``max_items``; default 1 per item.
    max_wait_s : float
        How long the first item of a batch waits for others; 0: the items of one loop turn.
    one_at_a_time : bool
        Send the next batch only once the previous one has answered (``send`` is not safe to
        run twice at once). Otherwise batches go concurrently: no item waits on another's call.
    retry_alone : bool
        When a batch of several items fails whole, send each item again alone, so that only
        the item that fails alone gets the error, not the strangers batched with it.

    Examples
    --------
    Two items go as one call; it fails, so each is sent again alone and only the bad one fails:

    >>> import asyncio
    >>> async def invert(items):
    ...     return [1 / item for item in items]
    >>> async def main():
    ...     batcher = MicroBatcher(invert, retry_alone=True)
    ...     answers = await asyncio.gather(batcher(4), batcher(0), return_exceptions=True)
    ...     return answers, batcher.metric_sums().values
    >>> asyncio.run(main())
    ([0.25, ZeroDivisionError('division by zero')], {'batches': 3.0, 'items': 4.0})
    """

    send: BatchSender
    _: KW_ONLY
    max_items: int | None = None
    size: Callable[[ItemT], int] | None = None
    max_wait_s: float = 0.0
    one_at_a_time: bool = False
    retry_alone: bool = False

    def __post_init__(self) -> None:
        if self.max_items is not None and self.max_items < 1:
            raise ValueError(f"max_items must be >= 1 (or None: no limit), got {self.max_items}")
        if not self.max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s}")
        self._counts = {"batches": 0, "items": 0}
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}
        self._closed: str | None = None  # why, once closed

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed batcher refuses new items)."""
        return self._closed is not None

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """What this batcher sent: ``batches`` (calls of ``send``) and ``items`` (in ``size``
        units), failed calls and retries included.

        Parameters
        ----------
        reset : bool, default False
            Start counting afresh after reading.
        """
        sums = MetricSums({name: float(count) for name, count in self._counts.items()})
        if reset:
            self._counts = dict.fromkeys(self._counts, 0)
        return sums

    async def __call__(self, item: ItemT) -> ResultT:
        """``send``'s result for ``item``, sent in a list with the items submitted alongside it.

        Raises ValueError for an item larger than ``max_items``, RuntimeError when the batcher
        is closed or closes before the item is answered.
        """
        size = 1 if self.size is None else self.size(item)
        if self.max_items is not None and size > self.max_items:
            raise ValueError(f"{size} items exceed max_items={self.max_items}")
        if self._closed is not None:
            raise RuntimeError(self._closed)
        loop = asyncio.get_running_loop()
        lane = self._lanes.setdefault(loop, _Lane(loop))
        waiting = _Waiting(item, size, loop.time(), loop.create_future())
        lane.pending.append(waiting)
        lane.size += size
        self._schedule(lane)
        return await waiting.answer

    def close(self, reason: str = "the batcher is closed") -> None:
        """Refuse new items; the items waiting or in flight get a ``RuntimeError(reason)``, as
        does every later item. Call it on the event loop that submits (a server's shutdown)."""
        self._closed = reason
        error = RuntimeError(reason)
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
            for task, batch in lane.in_flight.items():
                task.cancel()
                _fail(batch, error)
            _fail(lane.pending, error)
        self._lanes.clear()

    def _schedule(self, lane: _Lane) -> None:
        """Send the next batch when it is due; else make sure a timer will send it."""
        while lane.pending and not (self.one_at_a_time and lane.in_flight):
            if self.max_items is None or lane.size < self.max_items:
                if lane.timer is None:
                    due = lane.pending[0].arrived + self.max_wait_s
                    lane.timer = (
                        lane.loop.call_soon(self._send_due, lane)
                        if self.max_wait_s == 0
                        else lane.loop.call_at(due, self._send_due, lane)
                    )
                return
            self._start(lane)  # full: it goes now

    def _send_due(self, lane: _Lane) -> None:
        lane.timer = None
        if lane.pending and not (self.one_at_a_time and lane.in_flight):
            self._start(lane)
            self._schedule(lane)

    def _start(self, lane: _Lane) -> None:
        """Take the next batch off the queue (as many items as fit) and send it."""
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        batch = [lane.pending.popleft()]
        taken = batch[0].size
        while lane.pending and (
            self.max_items is None or taken + lane.pending[0].size <= self.max_items
        ):
            batch.append(lane.pending.popleft())
            taken += batch[-1].size
        lane.size -= taken
        task = lane.loop.create_task(self._answer(batch))
        lane.in_flight[task] = batch
        task.add_done_callback(lambda done: self._finished(lane, done))

    def _finished(self, lane: _Lane, task: asyncio.Task) -> None:
        lane.in_flight.pop(task, None)
        if self._lanes.get(lane.loop) is not lane:  # closed meanwhile
            return
        self._schedule(lane)
        if not lane.pending and not lane.in_flight:
            del self._lanes[lane.loop]  # a loop that is done leaves nothing behind

    async def _answer(self, batch: list[_Waiting]) -> None:
        """Send ``batch`` and answer each of its items."""
        self._counts["batches"] += 1
        self._counts["items"] += sum(waiting.size for waiting in batch)
        try:
            results = await self.send([waiting.item for waiting in batch])
            if len(results) != len(batch):
                raise RuntimeError(
                    f"the batched call returned {len(results)} results for {len(batch)} items"
                )
        except Exception as error:
            if not (self.retry_alone and len(batch) > 1):
                _fail(batch, error)
                return
            for waiting in batch:
                if not waiting.answer.done():  # its caller may have gone away
                    await self._answer([waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            if waiting.answer.done():
                continue
            if isinstance(result, Exception):
                waiting.answer.set_exception(result)
            else:
                waiting.answer.set_result(result)


def _fail(batch: Iterable[_Waiting], error: BaseException) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)
