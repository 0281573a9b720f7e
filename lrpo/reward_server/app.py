"""The reward server: OpenRLHF's (and WALAR's) remote-reward protocol over FastAPI, and running it.

``POST /get_reward`` takes ``{"query": [...], "prompts": [...], "labels": [...]}`` (the decoded
prompt and response as OpenRLHF sends it, its prompt, lrpo's packed label) and answers
``{"rewards": [...], "scores": [...], "extra_logs": {...}}``. A request is checked whole before
it is queued, so a bad one gets a 4xx naming its problem and never fails the batch it would
have joined. ``GET /health`` reports the counters.

The reward is the config's choice (:data:`~lrpo.rewards.choice.RewardConfig`): the
semantic reward logs ``lrpo/*`` values per item, WALAR's (``kind: walar``) reads each item's
source sentence from its label's ``reference`` and its target language from the label's
``requested``, else ``language``, and logs ``walar/*`` values.

Trainers send small requests from many workers (OpenRLHF 0.11: one sample per request) and the
embedder's cost per item falls with the batch size, so the requests in flight are scored
together, in a worker thread (the event loop keeps accepting requests) one batch at a time.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from lrpo.batching import MicroBatcher
from lrpo.labelled.labels import LabelError, PackedLabel, unpack_label
from lrpo.labelled.scoring import ScoredRollouts, response_from_query, score_labelled
from lrpo.rewards.choice import ConfiguredReward, make_reward

from .config import ServeConfig

try:
    import uvicorn
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.requests import ClientDisconnect
except ImportError as error:  # pragma: no cover - the serve extra is part of every CI install
    raise ImportError("lrpo serve needs fastapi and uvicorn: pip install 'lrpo[serve]'") from error

__all__ = [
    "RewardRequest",
    "ScoreRequest",
    "background_server",
    "create_app",
    "reward_batcher",
    "serve",
]

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


@dataclass(frozen=True)
class ScoreRequest:
    """One request's rollouts: a response, its packed label and its prompt per item."""

    responses: Sequence[str]
    labels: Sequence[PackedLabel]
    prompts: Sequence[str]

    def __len__(self) -> int:
        return len(self.responses)


def reward_batcher(
    reward: ConfiguredReward, config: ServeConfig
) -> MicroBatcher[ScoreRequest, ScoredRollouts]:
    """A batcher that scores the requests in flight together with ``reward``, up to
    ``config.max_batch_items`` rollouts after ``config.batch_wait_ms``; ``await
    batcher(request)`` is the request's :class:`ScoredRollouts`. A merged call that fails is
    retried request by request, so only the request that fails alone gets the error."""

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


def _score_together(reward: ConfiguredReward, requests: list[ScoreRequest]) -> list[ScoredRollouts]:
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


def create_app(
    config: ServeConfig | None = None, *, reward: ConfiguredReward | None = None
) -> FastAPI:
    """The reward server's app; ``reward`` is built from ``config.reward`` when not given.

    Building the reward (loading its models) happens here, before the app serves, so
    ``/health`` answers only once requests can be scored.
    """
    config = config or ServeConfig()
    reward = reward if reward is not None else make_reward(config.reward)

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
        """Requests received, failed (4xx, 5xx) and hung up mid-body, batches (reward calls)
        and the items they scored; 503 once the server is shutting down."""
        sent = batcher.metric_sums().values
        return JSONResponse(
            {
                "status": "stopped" if batcher.closed else "ok",
                **counts,
                **{name: int(value) for name, value in sent.items()},
                "uptime_s": time.monotonic() - started,
            },
            status_code=503 if batcher.closed else 200,
        )

    return app


async def _read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body; 413 once it passes ``limit`` bytes, 408 (closing the connection: a stalled
    client must not hold it) when it has not all arrived within ``timeout_s``."""
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
    return str(loc[0]) + "".join(f"[{part}]" for part in loc[1:]) if loc else "body"


def serve(config: ServeConfig) -> None:
    """Load the reward and serve until interrupted (Ctrl-C or SIGTERM stop it cleanly)."""
    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level)


@contextmanager
def background_server(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    start_timeout_s: float = 60.0,
) -> Iterator[str]:
    """Serve ``app`` from a thread; yields its base URL (``http://host:port``), stops on exit.

    Examples
    --------
    >>> from lrpo.rewards import SemanticReward
    >>> import httpx
    >>> reward = SemanticReward({"calibration": "none", "gate": None,
    ...                          "pair_key": "requested"}, scorer=lambda p, c, r: [0.5] * len(c))
    >>> with background_server(create_app(reward=reward)) as url:
    ...     httpx.get(url + "/health").json()["status"]
    'ok'
    """
    sock = socket.create_server((host, port))
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="lrpo-serve"
    )
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reward server did not start; see its log above")
            time.sleep(0.01)
        bound_host, bound_port = sock.getsockname()[:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout_s)
        sock.close()
