"""One owner of a router, many clients: routing for trainers whose workers load plugins alone.

See :class:`RouterService` (the owner) and :func:`connect` (a client, in-process or over Ray).
"""

from .clients import LocalRouterClient, RayRouterClient, RouterClient, connect
from .config import GroupMismatchError, RouterServiceError, RouterServiceUnavailable, ServiceConfig
from .groups import Assignment
from .owner import RouterService

__all__ = [
    "Assignment",
    "GroupMismatchError",
    "LocalRouterClient",
    "RayRouterClient",
    "RouterClient",
    "RouterService",
    "RouterServiceError",
    "RouterServiceUnavailable",
    "ServiceConfig",
    "connect",
]
