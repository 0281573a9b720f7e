"""`RouterService`: the single owner of a router that many trainer workers route through.

OpenRLHF's vLLM engines and verl's agent-loop workers each load a plugin file on their own and
see one rollout at a time, with no slot index and no step boundary. The owner routes a whole
group (K rollouts) when its first rollout asks, hands out its slots and takes one reward per
slot (:mod:`lrpo.router_service.groups`), and records a router step once ``groups_per_step``
groups are complete, saving its state so that a restarted run resumes exactly.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from lrpo.metrics import MetricSums
from lrpo.router import BaseRouter, RoutingPlan
from lrpo.router.context import ContextLike
from lrpo.router.state import check_counts

from .config import RouterServiceError, RouterServiceUnavailable
from .groups import Assignment, OpenGroup, OpenGroups

__all__ = ["RouterService", "describe"]

STATE_FORMAT = 1
#: The service's own counters, saved with its state and logged as ``router/service/<name>``.
COUNTERS = (
    "groups",
    "rewards",
    "late_rewards",
    "duplicate_rewards",
    "expired_groups",
    "recorded_steps",
)
#: Counter of each dropped report outcome (see OpenGroups.take_reward).
_DROPPED = {"late": "late_rewards", "duplicate": "duplicate_rewards"}

Request = tuple[str, ContextLike, int]
Report = tuple[str, int, float]


class RouterService:
    """Own a router; route groups for many clients and learn from their rewards.

    Thread-safe (one lock, as OpenRLHF calls reward files from worker threads); each bad
    request or report of a batch fails alone, the others proceed.

    Parameters
    ----------
    router : BaseRouter
        The router to own.
    groups_per_step, expire_after_steps, state_path, metrics_path
        As in :class:`~lrpo.router_service.ServiceConfig` (``owner_settings()`` gives them).
    timeout_s : float, optional
        Longest wait for the lock held by another call, then RouterServiceUnavailable having
        changed nothing; None: no limit.
    """

    def __init__(
        self,
        router: BaseRouter,
        *,
        groups_per_step: int,
        expire_after_steps: int = 8,
        state_path: str | None = None,
        metrics_path: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if groups_per_step < 1:
            raise ValueError(f"groups_per_step must be >= 1, got {groups_per_step}")
        self.router = router
        self.groups_per_step = groups_per_step
        self.expire_after_steps = expire_after_steps
        self.state_path = state_path
        self.metrics_path = metrics_path
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._groups = OpenGroups(router.config.num_rollouts)
        self._counters = dict.fromkeys(COUNTERS, 0)
        if state_path and os.path.isfile(state_path):
            self._resume(state_path)

    # ----------------------------------------------------------------- routing
    def assign(self, group: str, context: ContextLike, num_rollouts: int) -> Assignment:
        """The next free slot of ``group``'s plan, routing the group on its first request.

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
            The slot's ticket, slot index and language.
        """
        return _raised(self.assign_many([(group, context, num_rollouts)])[0])

    def assign_many(self, requests: list[Request]) -> list[Assignment | Exception]:
        """:meth:`assign` for a batch of ``(group, context, K)``: one result or exception per
        request, in order; the new groups are routed in one call."""
        with self._locked():
            taken: list[tuple[OpenGroup, int] | Exception] = []
            for request in requests:
                try:
                    taken.append(self._groups.take_slot(*request, step=self.router.step))
                except (TypeError, ValueError) as error:
                    taken.append(error)
            failed = self._route_new([t[0] for t in taken if isinstance(t, tuple)])
            out: list[Assignment | Exception] = []
            for result in taken:
                if isinstance(result, tuple):
                    entry, slot = result
                    result = failed.get(id(entry)) or entry.assignment(slot)
                out.append(result)
            return out

    def _route_new(self, entries: list[OpenGroup]) -> dict[int, Exception]:
        """Route the groups not routed yet; the error of each that fails, closed so that it
        holds no slot and only its requests fail."""
        fresh = list({id(e): e for e in entries if e.languages is None}.values())
        try:
            self._route(fresh)
            return {}
        except (TypeError, ValueError):
            pass
        # Draws depend on each group's key alone, so routing the groups one by one gives the
        # plans that routing them together would have given.
        failed: dict[int, Exception] = {}
        for entry in fresh:
            try:
                self._route([entry])
            except (TypeError, ValueError) as error:
                failed[id(entry)] = error
                self._groups.close(entry)
        return failed

    def _route(self, entries: list[OpenGroup]) -> None:
        if not entries:
            return
        plan = self.router.route([e.context for e in entries], keys=[e.ticket for e in entries])
        for row, entry in enumerate(entries):
            entry.key = int(plan.keys[row])
            entry.languages, entry.arms = plan.languages[row], plan.arms[row]
        self._counters["groups"] += len(entries)

    # ---------------------------------------------------------------- learning
    def report(self, ticket: str, slot: int, reward: float) -> bool:
        """Take one rollout's reward; returns whether a router step was recorded.

        A reward for a group no longer open (recorded, or from before a restart) is dropped
        (``late_rewards``), so is a second one for a slot (``duplicate_rewards``); a slot never
        handed out is refused. NaN is kept: the router counts it.

        Parameters
        ----------
        ticket, slot : str, int
            Those of the rollout's :class:`Assignment`.
        reward : float
            Its reward.

        Returns
        -------
        bool
            Whether this reward completed a router step.
        """
        return _raised(self.report_many([(ticket, slot, reward)])[0])

    def report_many(self, reports: list[Report]) -> list[bool | Exception]:
        """:meth:`report` for a batch of ``(ticket, slot, reward)``: one result per report, in
        order, or its exception (raised before that report changed anything)."""
        with self._locked():
            out: list[bool | Exception] = []
            for report in reports:
                try:
                    out.append(self._take_reward(*report))
                except (TypeError, ValueError) as error:
                    out.append(error)
            return out

    def _take_reward(self, ticket: str, slot: int, reward: float) -> bool:
        outcome = self._groups.take_reward(ticket, slot, reward)
        if outcome in _DROPPED:
            self._counters[_DROPPED[outcome]] += 1
            return False
        self._counters["rewards"] += 1
        if outcome != "completed" or len(self._groups.complete) < self.groups_per_step:
            return False
        self._record(self.groups_per_step)
        return True

    def flush(self) -> bool:
        """Record the completed groups now, however few (end of training); whether any were."""
        with self._locked():
            if not self._groups.complete:
                return False
            self._record(len(self._groups.complete))
            return True

    def _record(self, count: int) -> None:
        groups = self._groups.pop_complete(count)
        plan = RoutingPlan(
            contexts=tuple(g.context for g in groups),
            languages=np.stack([g.languages for g in groups]),
            arms=np.stack([g.arms for g in groups]),
            step=self.router.step,
            keys=np.array([g.key for g in groups], dtype=np.uint64),
        )
        self.router.record(plan, np.stack([g.rewards for g in groups]))
        expired = self._groups.next_step(expire_before=self.router.step - self.expire_after_steps)
        self._counters["expired_groups"] += expired
        self._counters["recorded_steps"] += 1
        if self.state_path:  # written whole, then renamed: a crash never leaves half a file
            with open(self.state_path + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(self._state(), handle)
            os.replace(self.state_path + ".tmp", self.state_path)
        if self.metrics_path:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(self._metric_sums().metrics()) + "\n")

    # ---------------------------------------------------------------- reports
    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """The router's sums and the service's own, for a trainer's logs or the metrics file.

        Parameters
        ----------
        reset : bool, default False
            Start a new window: the counters restart from 0 (gauges such as the step stay).

        Returns
        -------
        MetricSums
            Its ``metrics()`` are the router's ``router/<name>`` and the service's
            ``router/service/<name>`` (:data:`COUNTERS`, ``open_groups``, ``complete_groups``).
        """
        with self._locked():
            return self._metric_sums(reset=reset)

    def _metric_sums(self, *, reset: bool = False) -> MetricSums:
        router = self.router.metric_sums(reset=reset)
        service = {f"service/{name}": float(count) for name, count in self._counters.items()}
        service["service/open_groups"] = float(len(self._groups.open))
        service["service/complete_groups"] = float(len(self._groups.complete))
        if reset:
            self._counters = dict.fromkeys(COUNTERS, 0)
        return MetricSums({**router.values, **service}, router.derive)

    def describe(self) -> dict[str, Any]:
        """What a client checks before sharing this owner: policy, router config, step size."""
        return describe(self.router, self.groups_per_step)

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """What resumes this owner exactly: JSON-safe, the router's state, the groups opened
        per key this step and the counters (open groups are in flight and not saved)."""
        with self._locked():
            return self._state()

    def _state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "router": self.router.state_dict(),
            "opened": dict(self._groups.opened),
            "counters": dict(self._counters),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`.

        Parameters
        ----------
        state : mapping
            A state saved by :meth:`state_dict`; it is checked whole first, so that a bad one
            is refused (``ValueError`` naming the wrong field) and changes nothing.
        """
        fmt = state.get("format") if isinstance(state, Mapping) else None
        if type(fmt) is not int or fmt != STATE_FORMAT:
            raise ValueError(
                f"router service state 'format' is {fmt!r}, not {STATE_FORMAT}: load a state "
                "saved by RouterService.state_dict()"
            )
        opened = check_counts(state.get("opened"), "opened")
        counters = check_counts(state.get("counters"), "counters", known=COUNTERS)
        if "router" not in state:
            raise ValueError("router service state lacks its 'router' state")
        with self._locked():
            self.router.load_state_dict(state["router"])  # checked whole, before it changes
            self._groups.opened = opened
            self._counters.update(counters)

    def _resume(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as handle:
                self.load_state_dict(json.load(handle))
        except (TypeError, ValueError) as error:  # a JSONDecodeError is a ValueError
            raise RouterServiceError(
                f"cannot resume the router from its state file {path} ({type(error).__name__}: "
                f"{error}). If the file is damaged, restore it from a backup; to start the "
                "router afresh, move the file away or set service.state_path to a new file"
            ) from error

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The lock, waited for at most ``timeout_s``."""
        if not self._lock.acquire(timeout=-1 if self.timeout_s is None else self.timeout_s):
            raise RouterServiceUnavailable(
                f"the router service did not answer within timeout_s={self.timeout_s} s: "
                "another call held it that long (nothing was changed)"
            )
        try:
            yield
        finally:
            self._lock.release()


def _raised(result: Any) -> Any:
    """The result, or raise it when it is an exception."""
    if isinstance(result, Exception):
        raise result
    return result


def describe(router: BaseRouter, groups_per_step: int) -> dict[str, Any]:
    """The settings two clients must agree on to share one owner (JSON-safe)."""
    return {
        "policy": type(router).__name__,
        "router": router.config.model_dump(mode="json"),
        "groups_per_step": groups_per_step,
    }
