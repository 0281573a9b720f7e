"""Running the reward server: in the foreground (``lrpo serve``) or in a background thread.

The background form serves tests and scripts that need a real server on loopback: it binds the
socket itself (port 0 picks a free one, with no race between choosing and binding) and returns
only once uvicorn has started, the reward loaded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .config import ServeConfig

__all__ = ["background_server", "serve"]


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
