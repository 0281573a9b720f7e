"""`lrpo serve`: rewards over HTTP for trainers that call a remote reward (OpenRLHF, WALAR).

:class:`ServeConfig`, :func:`create_app` (the FastAPI app), :func:`serve` and
:func:`background_server`. Needs the ``serve`` extra (fastapi, uvicorn).
"""

from .app import RewardRequest, background_server, create_app, serve
from .config import ServeConfig

__all__ = ["RewardRequest", "ServeConfig", "background_server", "create_app", "serve"]
