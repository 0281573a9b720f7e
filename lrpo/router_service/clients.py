"""Clients of the router service: the same async interface in-process and over Ray (agents of
OpenRLHF and verl run in asyncio loops), never waiting longer than ``timeout_s``."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from lrpo.batching import MicroBatcher
from lrpo.metrics import MetricSums
from lrpo.router import BaseRouter
from lrpo.router.context import ContextLike

from .config import RouterServiceError, RouterServiceUnavailable, ServiceConfig
from .groups import Assignment
from .owner import RouterService, describe

__all__ = ["LocalRouterClient", "RayRouterClient", "RouterClient", "connect"]

RouterFactory = Callable[[], BaseRouter]


class RouterClient(ABC):
    """What a plugin asks of the router's owner.

    The calls that a loop makes in one turn (an engine starts all rollouts of a batch at once)
    travel together, in one ``assign_many`` / ``report_many`` round trip.
    """

    def __init__(self) -> None:
        self._assign = MicroBatcher(lambda items: self._call("assign_many", items))
        self._report = MicroBatcher(lambda items: self._call("report_many", items))

    async def assign(self, group: str, context: ContextLike, num_rollouts: int) -> Assignment:
        """The next rollout of ``group``: arguments and result of :meth:`RouterService.assign`."""
        return await self._assign((group, context, num_rollouts))

    async def report(self, ticket: str, slot: int, reward: float) -> bool:
        """One rollout's reward: arguments and result of :meth:`RouterService.report`."""
        return await self._report((ticket, slot, reward))

    async def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """The owner's router and service sums: see :meth:`RouterService.metric_sums`."""
        return await self._call("metric_sums", reset=reset)

    @abstractmethod
    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``method`` of the owner with ``args`` and ``kwargs``."""


class LocalRouterClient(RouterClient):
    """A client of a :class:`RouterService` in this process (tests, one-machine runs).

    Calls run in a worker thread, so that a busy owner (waiting at most its ``timeout_s`` for
    its lock) never blocks the event loop.
    """

    def __init__(self, service: RouterService) -> None:
        super().__init__()
        self.service = service

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.service, method), *args, **kwargs)


class RayRouterClient(RouterClient):
    """A client of the named Ray actor that owns the router.

    Parameters
    ----------
    handle : ray.actor.ActorHandle
        The actor (a remote :class:`RouterService`).
    config : ServiceConfig
        Its name and namespace (for messages) and the call timeout.
    """

    def __init__(self, handle: Any, config: ServiceConfig) -> None:
        super().__init__()
        self.handle = handle
        self.config = config

    @classmethod
    def connect(
        cls, config: ServiceConfig, router_factory: RouterFactory | None
    ) -> RayRouterClient:
        """The actor ``config.name``, created from ``router_factory`` if it does not exist yet.

        Without a factory the actor must exist: :class:`RouterServiceUnavailable` otherwise.
        Creation uses ``get_if_exists``, so engines that start together share one owner.
        """
        import ray
        from ray.exceptions import GetTimeoutError

        if not ray.is_initialized():
            try:
                ray.init(address="auto", namespace=config.namespace, log_to_driver=False)
            except ConnectionError as error:
                raise RouterServiceUnavailable(
                    f"no Ray cluster to reach the router service {config.name!r}: {error}"
                ) from None
        if router_factory is None:
            try:
                handle = ray.get_actor(config.name, namespace=config.namespace)
            except ValueError:
                raise RouterServiceUnavailable(
                    f"no router service actor {config.name!r} in Ray namespace "
                    f"{config.namespace!r}; start one with lrpo.router_service.connect(config, "
                    "router_factory) from the driver, or check service.name/namespace"
                ) from None
        else:
            actor = ray.remote(num_cpus=0, max_restarts=0)(_FactoryBuiltService)
            handle = actor.options(
                name=config.name,
                namespace=config.namespace,
                get_if_exists=True,
                lifetime="detached",
            ).remote(router_factory, **config.owner_settings())
            try:
                found = ray.get(handle.describe.remote(), timeout=config.timeout_s)
            except GetTimeoutError:
                raise RouterServiceUnavailable(
                    f"router service {config.name!r} did not start within {config.timeout_s} s"
                ) from None
            if "startup_error" in found:
                ray.kill(handle)  # detached: a broken owner must not be found by the next start
                raise RouterServiceError(
                    f"router service {config.name!r} could not start: {found['startup_error']}"
                )
            _check_same_owner(config, found, describe(router_factory(), config.groups_per_step))
        return cls(handle, config)

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from ray.exceptions import RayActorError

        try:
            return await asyncio.wait_for(
                getattr(self.handle, method).remote(*args, **kwargs), self.config.timeout_s
            )
        except TimeoutError:
            raise RouterServiceUnavailable(
                f"router service {self.config.name!r} did not answer {method} within "
                f"{self.config.timeout_s} s"
            ) from None
        except RayActorError as error:
            raise RouterServiceUnavailable(
                f"router service {self.config.name!r} is gone: {error}"
            ) from None


class _FactoryBuiltService(RouterService):
    """The Ray actor; it builds its router itself (Ray hands a shipped router's arrays over
    read-only). A constructor that raises would reach the client only as an opaque
    ``ActorDiedError``, so a failed start is kept and reported by :meth:`describe` instead."""

    def __init__(self, router_factory: RouterFactory, **settings: Any) -> None:
        self.startup_error: str | None = None
        try:
            super().__init__(router_factory(), **settings)
        except Exception as error:
            self.startup_error = f"{type(error).__name__}: {error}"

    def describe(self) -> dict[str, Any]:
        if self.startup_error is not None:
            return {"startup_error": self.startup_error}
        return super().describe()


_LOCAL_SERVICES: dict[str, RouterService] = {}
_LOCAL_LOCK = threading.Lock()


def connect(config: ServiceConfig, router_factory: RouterFactory | None = None) -> RouterClient:
    """A client of the service ``config`` describes, creating its owner when needed.

    ``backend="local"`` keeps one owner per ``config.name`` in this process, shared by every
    plugin instance loaded here; ``"ray"`` uses a named actor shared by the cluster.

    Parameters
    ----------
    config : ServiceConfig
        Where the owner lives, and its settings.
    router_factory : callable, optional
        Builds the router when the owner does not exist yet; without it the owner must exist.

    Returns
    -------
    RouterClient
        A :class:`LocalRouterClient` or a :class:`RayRouterClient`.

    Raises
    ------
    RouterServiceUnavailable
        When there is no owner and no factory, or no Ray cluster.
    RouterServiceError
        When the existing owner routes with other settings than ``router_factory``'s router.
    """
    if config.backend == "ray":
        return RayRouterClient.connect(config, router_factory)
    with _LOCAL_LOCK:
        service = _LOCAL_SERVICES.get(config.name)
        if service is None:
            if router_factory is None:
                raise RouterServiceUnavailable(
                    f"no local router service {config.name!r} in this process; pass a "
                    "router_factory to create it, or use backend='ray' to reach a shared one"
                )
            service = RouterService(router_factory(), **config.owner_settings())
            _LOCAL_SERVICES[config.name] = service
        elif router_factory is not None:
            expected = describe(router_factory(), config.groups_per_step)
            _check_same_owner(config, service.describe(), expected)
    return LocalRouterClient(service)


def _check_same_owner(config: ServiceConfig, found: dict, expected: dict) -> None:
    """Refuse to share an owner that routes with other settings (e.g. a previous job's actor)."""
    if found == expected:
        return
    differ = [k for k in expected if k != "router" and found.get(k) != expected[k]]
    router, wanted = found.get("router", {}), expected["router"]
    differ += [f"router.{k}" for k in wanted if router.get(k) != wanted[k]]
    raise RouterServiceError(
        f"router service {config.name!r} already exists with other settings ({', '.join(differ)} "
        "differ). A Ray owner is detached and outlives its job: remove it with "
        f"ray.kill(ray.get_actor({config.name!r}, namespace={config.namespace!r})), or set "
        "another service.name"
    )
