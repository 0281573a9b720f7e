"""`Coalescer`: the calls of one event-loop turn, sent as one batch.

An engine starts every rollout of a batch in the same loop turn, so per-rollout calls to the
router's owner or to the reward model arrive together; sending them as one batch saves a round
trip (and an embedder call) per rollout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["Coalescer"]


class Coalescer:
    """Gathers the items sent in one event-loop turn and sends them as one batch.

    ``send(items)`` returns one result per item, an exception object for a failed item; a
    failure of the whole call (the owner unreachable) reaches every caller of the batch.
    """

    def __init__(self, send: Callable[[list[Any]], Any]) -> None:
        self._send = send
        # per event loop (a client may be shared by threads that each run their own loop)
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[Any, asyncio.Future]]] = {}
        self._flushing: set[asyncio.Task] = set()  # strong references until they finish

    async def __call__(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self._pending.setdefault(loop, [])
        pending.append((item, future))
        if len(pending) == 1:
            loop.call_soon(self._start_flush, loop)
        return await future

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._flush(self._pending.pop(loop)))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
        except Exception as error:  # handed to every waiting caller
            results = [error] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
