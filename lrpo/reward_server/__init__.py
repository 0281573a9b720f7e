"""`lrpo serve`: rewards over HTTP for trainers that call a remote reward (OpenRLHF, WALAR).

:class:`ServeConfig` (the settings file), :func:`create_app` (the FastAPI app, which merges
concurrent requests into batched reward calls: :mod:`lrpo.reward_server.batcher`) and
:func:`serve` / :func:`background_server` (running it). Needs the ``serve`` extra (fastapi,
uvicorn).
"""

from .app import RewardRequest, create_app
from .config import ServeConfig
from .run import background_server, serve

__all__ = [
    "RewardRequest",
    "ServeConfig",
    "background_server",
    "create_app",
    "serve",
]
