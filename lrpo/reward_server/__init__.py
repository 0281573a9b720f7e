"""`lrpo serve`: rewards over HTTP for trainers that call a remote reward (OpenRLHF, WALAR).

:class:`ServeConfig` (the settings file), :class:`RewardBatcher` (merges concurrent requests
into batched reward calls), :func:`create_app` (the FastAPI app) and :func:`serve` /
:func:`background_server` (running it). Needs the ``serve`` extra (fastapi, uvicorn).
"""

from .app import RewardRequest, create_app
from .batcher import RewardBatcher
from .config import ServeConfig
from .run import background_server, serve

__all__ = [
    "RewardBatcher",
    "RewardRequest",
    "ServeConfig",
    "background_server",
    "create_app",
    "serve",
]
