"""The reward server's HTTP app: OpenRLHF's (and WALAR's) remote-reward protocol over FastAPI.

``POST /get_reward`` takes ``{"query": [...], "prompts": [...], "labels": [...]}``: ``query[i]``
is the decoded prompt and response as OpenRLHF sends it, ``prompts[i]`` its prompt and
``labels[i]`` lrpo's packed label (:mod:`lrpo.labelled.labels`). It answers
``{"rewards": [...], "scores": [...], "extra_logs": {...}}`` from
:func:`~lrpo.labelled.scoring.score_labelled`, scored together with the other requests in
flight (:mod:`lrpo.reward_server.batcher`). A request is checked whole before it is queued, so
a bad one gets a 4xx naming its problem and never fails the batch it would have joined. A body
that has not arrived ``body_timeout_s`` after the headers gets 408 and its connection is
closed; a client that hangs up mid-body is one line of the log (no traceback). ``GET /health``
reports the counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from lrpo.labelled.labels import LabelError, PackedLabel, unpack_label
from lrpo.labelled.scoring import ScoredRollouts, response_from_query
from lrpo.metrics import MetricSums
from lrpo.rewards import SemanticReward

from .batcher import ScoreRequest, reward_batcher
from .config import ServeConfig

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.requests import ClientDisconnect
except ImportError as error:  # pragma: no cover - the serve extra is part of every CI install
    raise ImportError("lrpo serve needs fastapi and uvicorn: pip install 'lrpo[serve]'") from error

__all__ = ["RewardRequest", "create_app"]

_MAX_PROBLEMS = 5  # validation errors named in one answer (a bad list can have thousands)
_CLOSE = {"Connection": "close"}  # uvicorn (h11 and httptools) then closes the connection
_log = logging.getLogger("uvicorn.error")  # the server's own log, at its configured level


class RewardRequest(BaseModel):
    """The body of ``POST /get_reward``; fields other than these three are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    query: list[str]
    prompts: list[str]
    labels: list[str]

    def responses(self) -> list[str]:
        """Each query without its prompt prefix and trailing end-of-turn tokens."""
        pairs = zip(self.query, self.prompts, strict=True)
        return [response_from_query(query, prompt) for query, prompt in pairs]


def create_app(
    config: ServeConfig | None = None, *, reward: SemanticReward | None = None
) -> FastAPI:
    """The reward server's app; ``reward`` is built from ``config.reward`` when not given.

    Building the reward (loading the embedder) happens here, before the app serves, so
    ``/health`` answers only once requests can be scored.
    """
    config = config or ServeConfig()
    reward = reward if reward is not None else SemanticReward(config.reward)

    batcher = reward_batcher(reward, config)
    counts = {"requests": 0, "errors": 0, "disconnects": 0}
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close("the reward server is shutting down")

    app = FastAPI(title="lrpo reward server", lifespan=lifespan)

    @app.post("/get_reward")
    async def get_reward(request: Request) -> Response:
        counts["requests"] += 1
        try:
            body = _parse(await _read_body(request, config.max_body_bytes, config.body_timeout_s))
            if len(body.query) > config.max_items_per_request:
                raise HTTPException(
                    413,
                    f"{len(body.query)} items exceed max_items_per_request="
                    f"{config.max_items_per_request}",
                )
            labels = _unpack_labels(body.labels)
            if not labels:  # nothing to score: no call of the reward
                return JSONResponse(ScoredRollouts(np.zeros(0), {}).response())
            try:
                scored = await batcher(ScoreRequest(body.responses(), labels, body.prompts))
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
                raise HTTPException(500, f"scoring failed: {problem}") from error
        except ClientDisconnect:  # nothing to answer, and nothing wrong with the server
            counts["disconnects"] += 1
            _log.info("%s hung up before sending its whole request body", _client(request))
            return Response(status_code=499)  # nginx's "client closed request"; never sent
        except Exception:  # HTTPException (4xx, 5xx) or a bug (500): counted either way
            counts["errors"] += 1
            raise
        return JSONResponse(scored.response())

    @app.get("/health")
    async def health() -> JSONResponse:
        """Requests received, requests refused or failed (4xx and 5xx), clients that hung up
        mid-body, batches (calls of the reward) and the items they scored; 503 once the server
        is shutting down."""
        sums = MetricSums({name: float(count) for name, count in counts.items()})
        counters = (sums + batcher.metric_sums()).metrics()
        return JSONResponse(
            {
                "status": "stopped" if batcher.closed else "ok",
                **{name: int(value) for name, value in counters.items()},
                "uptime_s": time.monotonic() - started,
            },
            status_code=503 if batcher.closed else 200,
        )

    return app


async def _read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refused with 413 as soon as it is known to pass ``limit`` bytes, and with 408
    when it has not all arrived within ``timeout_s`` (a stalled client must not hold a
    connection: the answer closes it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body has {declared} bytes, over max_body_bytes={limit}")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():  # a chunked body has no length up front
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the body passed max_body_bytes={limit}")
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(
            408,
            f"the body did not arrive within body_timeout_s={timeout_s} ({size} bytes received)",
            headers=_CLOSE,
        ) from None
    return b"".join(chunks)


def _parse(body: bytes) -> RewardRequest:
    try:
        parsed = RewardRequest.model_validate_json(body)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        if problems[0]["type"] == "json_invalid":
            raise HTTPException(400, f"the body is not valid JSON: {problems[0]['msg']}") from None
        named = "; ".join(f"{_where(p['loc'])}: {p['msg']}" for p in problems[:_MAX_PROBLEMS])
        more = len(problems) - _MAX_PROBLEMS
        raise HTTPException(
            422,
            f"expected {{query, prompts, labels}} as lists of strings: {named}"
            + (f" (and {more} more)" if more > 0 else ""),
        ) from None
    lengths = {name: len(getattr(parsed, name)) for name in ("query", "prompts", "labels")}
    if len(set(lengths.values())) > 1:
        raise HTTPException(
            422, f"query, prompts and labels must have one entry per item, got lengths {lengths}"
        )
    return parsed


def _unpack_labels(labels: list[str]) -> list[PackedLabel]:
    """Each label parsed once: the K rollouts of a prompt share one."""
    parsed: dict[str, PackedLabel] = {}
    for i, text in enumerate(labels):
        if text not in parsed:
            try:
                parsed[text] = unpack_label(text)
            except LabelError as error:  # JSON nested too deep or not lrpo's included
                raise HTTPException(422, f"labels[{i}]: {error}") from None
    return [parsed[text] for text in labels]


def _client(request: Request) -> str:
    """``host:port`` of the client, for the log."""
    return f"{request.client.host}:{request.client.port}" if request.client else "a client"


def _where(loc: tuple[int | str, ...]) -> str:
    """``('query', 3)`` as ``query[3]``; the body itself as ``body``."""
    if not loc:
        return "body"
    return str(loc[0]) + "".join(f"[{part}]" for part in loc[1:])
