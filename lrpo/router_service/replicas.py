"""`Replicas`: a client's copies of the owner's router, one per step, that route its groups.

Routing is a pure function of (seed, step, key, router state): a replica loaded from the state
the owner published for a step routes a group of that step exactly as the owner's router would
have, so a group split across engines gets one plan in all of them, and the owner only hands
out slots and takes rewards.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from lrpo.router import BaseRouter, RouterConfig, RoutingContext, make_router

from .config import RouterServiceError

__all__ = ["Replicas"]


class Replicas:
    """Routers rebuilt from published states, by router step (the newest ``keep`` steps).

    Thread-safe: a process's plugin instances may share a client across event loops.
    """

    def __init__(self, keep: int = 16) -> None:
        self.keep = keep
        self._routers: dict[int, BaseRouter] = {}
        self._lock = threading.Lock()

    def steps(self) -> tuple[int, ...]:
        """The steps held, for the owner to send only the states that are missing."""
        with self._lock:
            return tuple(self._routers)

    def add(self, states: Mapping[int, Mapping[str, Any]]) -> None:
        """Rebuild a router from each step's published state (a new step is once per step)."""
        built = {}
        for step, state in states.items():
            router = make_router(RouterConfig.model_validate(state["config"]))
            router.load_state_dict(state)
            built[step] = router
        with self._lock:
            self._routers.update(built)
            for old in sorted(self._routers)[: -self.keep]:
                del self._routers[old]

    def route(
        self, groups: Mapping[str, tuple[RoutingContext, int]]
    ) -> tuple[dict[str, list[str]], dict[str, Exception]]:
        """The K languages of each ``ticket -> (context, step)`` group, routed by the replica of
        its step with the ticket as key; and the error of each group whose context the router
        refuses (the others are routed all the same)."""
        by_step: dict[int, list[str]] = {}
        for ticket, (_, step) in groups.items():
            by_step.setdefault(step, []).append(ticket)
        languages: dict[str, list[str]] = {}
        failed: dict[str, Exception] = {}
        for step, tickets in by_step.items():
            with self._lock:
                router = self._routers.get(step)
            if router is None:
                raise RouterServiceError(
                    f"this client holds no router state of step {step} (it kept the newest "
                    f"{self.keep}): ask again"
                )
            try:
                self._route(router, step, tickets, groups, languages)
            except (TypeError, ValueError):
                # Draws depend on each key alone: one by one gives the plans of all together.
                for ticket in tickets:
                    try:
                        self._route(router, step, [ticket], groups, languages)
                    except (TypeError, ValueError) as error:
                        failed[ticket] = error
        return languages, failed

    @staticmethod
    def _route(
        router: BaseRouter,
        step: int,
        tickets: list[str],
        groups: Mapping[str, tuple[RoutingContext, int]],
        out: dict[str, list[str]],
    ) -> None:
        plan = router.route([groups[t][0] for t in tickets], step=step, keys=tickets)
        out.update(zip(tickets, plan.languages.tolist(), strict=True))
