"""Clients of the router service: the same async interface in-process and over Ray (agents of
OpenRLHF and verl run in asyncio loops), never waiting longer than ``timeout_s``."""

from __future__ import annotations

import asyncio
import pickle
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from lrpo.batching import MicroBatcher
from lrpo.metrics import MetricSums
from lrpo.router import BaseRouter, RoutingContext
from lrpo.router.context import ContextLike

from .config import RouterServiceError, RouterServiceUnavailable, ServiceConfig
from .groups import Assignment
from .owner import RouterService, describe
from .replicas import Replicas

__all__ = ["LocalRouterClient", "RayRouterClient", "RouterClient", "connect"]

RouterFactory = Callable[[], BaseRouter]
#: Marks an item sent on its own (not joined with others), for the owner to judge.
_ALONE = object()


class RouterClient(ABC):
    """What a plugin asks of the router's owner: slots, and the rewards of their rollouts.

    The calls that a loop makes in one turn (an engine starts all rollouts of a batch at once)
    travel together: one ``open_many`` round trip for all of them, in which the rollouts of one
    group are one request, and one ``report_many`` in which they are one report. The client
    routes the groups itself, from :class:`~lrpo.router_service.replicas.Replicas` of the
    owner's router state, which the owner sends once per step. An engine that holds whole
    groups (:meth:`assign_group`, :meth:`report_group`) makes the same calls.
    """

    def __init__(self) -> None:
        self.replicas = Replicas()
        self._assign = MicroBatcher(self._send_requests)
        self._report = MicroBatcher(self._send_reports)

    async def assign(self, group: str, context: ContextLike, num_rollouts: int) -> Assignment:
        """The next rollout of ``group``: its slot of the group's plan.

        Parameters
        ----------
        group : str
            The prompt's key, shared by its K rollouts.
        context : RoutingContext or mapping
            The prompt's language, theme(s) and region(s); the same for every slot.
        num_rollouts : int
            K of the group; it must be the router's ``num_rollouts``.

        Returns
        -------
        Assignment
            The slot's ticket, slot index and language; report it back with its reward.
        """
        (assignment,) = await self._assign((group, context, num_rollouts, 1))
        return assignment

    async def assign_group(
        self, group: str, context: ContextLike, num_rollouts: int
    ) -> list[Assignment]:
        """All ``num_rollouts`` rollouts of a new group of ``group``, in slot order."""
        return await self._assign((group, context, num_rollouts, num_rollouts))

    async def report(self, assignment: Assignment, reward: float) -> bool:
        """One rollout's reward; whether it completed a router step.

        A reward for a group no longer open (recorded, expired, or from before a restart) is
        dropped (``late_rewards``), so is a second one for a slot (``duplicate_rewards``); a
        slot never handed out is refused. NaN is kept: the router counts it.
        """
        return await self._report(
            (assignment.ticket, (assignment.slot,), (assignment.language,), (reward,))
        )

    async def report_group(
        self, assignments: Sequence[Assignment], rewards: Sequence[float]
    ) -> bool:
        """The rewards of a group's rollouts (:meth:`assign_group`'s), in one report; whether
        a router step was recorded."""
        if len(assignments) != len(rewards):
            raise ValueError(f"{len(assignments)} assignments were given {len(rewards)} rewards")
        tickets = {a.ticket for a in assignments}
        if len(tickets) != 1:  # slots of several groups: one report each
            reports = zip(assignments, rewards, strict=True)
            return any(await asyncio.gather(*(self.report(a, r) for a, r in reports)))
        slots = tuple(a.slot for a in assignments)
        languages = tuple(a.language for a in assignments)
        return await self._report((tickets.pop(), slots, languages, tuple(rewards)))

    async def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """The owner's router and service sums: see :meth:`RouterService.metric_sums`."""
        return await self._call("metric_sums", reset=reset)

    async def _send_requests(
        self, items: list[tuple[str, ContextLike, int, int]]
    ) -> list[list[Assignment] | Exception]:
        """One ``open_many``: the items of one group (key, K, context) joined into one request;
        the groups routed here; each item's slots, in order."""
        requests: dict[Any, list[int]] = {}  # (group, K, context) -> the items it serves
        for index, (group, context, k, _) in enumerate(items):
            try:
                key = (group, k, RoutingContext.coerce(context))
                hash(key)
            except (TypeError, ValueError):
                key = (_ALONE, index)  # let the owner name what is wrong with it
            requests.setdefault(key, []).append(index)
        sent = [
            (key[0], key[2], key[1], sum(items[i][3] for i in indices))
            if key[0] is not _ALONE
            else items[indices[0]]
            for key, indices in requests.items()
        ]
        opened = await self._call("open_many", sent, self.replicas.steps())
        self.replicas.add(opened.states)
        groups = {
            run.ticket: (request[1], run.step)
            for request, runs in zip(sent, opened.runs, strict=True)
            if not isinstance(runs, Exception)
            for run in runs
        }
        languages, failed = self.replicas.route(groups)
        if failed:
            await self._call("close_many", list(failed))
        out: list[list[Assignment] | Exception] = [[] for _ in items]
        for request, runs, indices in zip(sent, opened.runs, requests.values(), strict=True):
            if not isinstance(runs, Exception):
                runs = next((failed[r.ticket] for r in runs if r.ticket in failed), runs)
            if isinstance(runs, Exception):
                for index in indices:
                    out[index] = runs
                continue
            prompt_language = RoutingContext.coerce(request[1]).language
            slots = iter(
                Assignment(run.ticket, slot, languages[run.ticket][slot], prompt_language, run.step)
                for run in runs
                for slot in range(run.first, run.first + run.count)
            )
            for index in indices:
                out[index] = [next(slots) for _ in range(items[index][3])]
        return out

    async def _send_reports(
        self, items: list[tuple[str, tuple[int, ...], tuple[str, ...], tuple[float, ...]]]
    ) -> list[bool | Exception]:
        """One ``report_many``: the items of one ticket joined into one report (its last item
        is told whether it completed a step); a joined report that fails is sent again item
        by item, so that only a bad item fails."""
        joined: dict[Any, list[int]] = {}
        for index, item in enumerate(items):
            key = item[0] if isinstance(item[0], str) else (_ALONE, index)
            joined.setdefault(key, []).append(index)
        served = list(joined.values())
        reports = [
            (items[ix[0]][0], *(tuple(v for i in ix for v in items[i][f]) for f in (1, 2, 3)))
            for ix in served
        ]
        answers = await self._call("report_many", reports)
        out: list[bool | Exception] = [False] * len(items)
        again = []
        for indices, answer in zip(served, answers, strict=True):
            if isinstance(answer, Exception) and len(indices) > 1:
                again += indices
            else:
                out[indices[-1]] = answer
        if again:
            answers = await self._call("report_many", [items[i] for i in again])
            for index, answer in zip(again, answers, strict=True):
                out[index] = answer
        return out

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

        request = pickle.dumps((method, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            answer = await asyncio.wait_for(self.handle.call.remote(request), self.config.timeout_s)
            return pickle.loads(answer)
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

    def call(self, request: bytes) -> bytes:
        """Run a client's pickled ``(method, args, kwargs)``; its result, pickled. A batch
        pickled whole costs the owner a fraction of Ray's serialization item by item."""
        method, args, kwargs = pickle.loads(request)
        if method not in _CLIENT_METHODS:
            raise ValueError(
                f"router service clients call {sorted(_CLIENT_METHODS)}, not {method!r}"
            )
        result = getattr(self, method)(*args, **kwargs)
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


#: What a client asks of its owner.
_CLIENT_METHODS = frozenset({"open_many", "close_many", "report_many", "metric_sums"})


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
