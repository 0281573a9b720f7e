"""`RouterService`: the single owner of a router that many trainer workers route through.

OpenRLHF's vLLM engines and verl's agent-loop workers each load a plugin file on their own and
see one rollout at a time, with no slot index and no step boundary. The owner hands out each
group's slots in order and takes one reward per slot (:mod:`lrpo.router_service.groups`), and
records a router step once ``groups_per_step`` groups are complete, saving its state so that a
restarted run resumes exactly.

Routing is a pure function of (seed, step, key, router state), so the owner does not route:
with each group's slots it hands out the router state of the step the group was opened in
(once per step and client), and the clients route from replicas of it
(:mod:`lrpo.router_service.clients`). A slot comes back with its language and reward, and the
owner records exactly the plan the clients routed. Its own work per group is a few dictionary
operations, in calls that carry every group a client asked for in one event-loop turn.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from lrpo.metrics import MetricSums
from lrpo.router import BaseRouter, RoutingPlan
from lrpo.router.context import ContextLike
from lrpo.router.draws import keys_to_uint64
from lrpo.router.state import check_counts

from .config import RouterServiceError, RouterServiceUnavailable
from .groups import OpenGroups, Run

__all__ = ["Opened", "RouterService", "describe"]

STATE_FORMAT = 1
#: The service's own counters, saved with its state and logged as ``router/service/<name>``;
#: ``calls`` counts the batched calls taken (``open_many``, ``report_many``).
COUNTERS = (
    "calls",
    "groups",
    "rewards",
    "late_rewards",
    "duplicate_rewards",
    "expired_groups",
    "recorded_steps",
)

#: ``(group, context, K, count)``: ``count`` slots of a group of K.
Request = tuple[str, ContextLike, int, int]
#: ``(ticket, slots, languages, rewards)``: the languages and rewards of some slots of a group.
Report = tuple[str, Sequence[int], Sequence[str], Sequence[float]]


class Opened(NamedTuple):
    """What :meth:`RouterService.open_many` hands a client: per request its runs of slots (or
    its error), and the router state of each step those runs route from that the client did not
    say it holds."""

    runs: list[list[Run] | Exception]
    states: dict[int, dict[str, Any]]


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
        config = router.config
        self._arms = {code: arm for arm, code in enumerate(router.languages)}
        self._groups = OpenGroups(config.num_rollouts, config.num_on_policy, self._arms)
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._published: dict[int, dict[str, Any]] = {}  # router step -> its state
        if state_path and os.path.isfile(state_path):
            self._resume(state_path)
        self._publish()

    # ----------------------------------------------------------------- slots
    def open_many(self, requests: list[Request], have: Collection[int] = ()) -> Opened:
        """Hand out slots: per ``(group, context, K, count)`` request, ``count`` slots of the
        group ``group`` (K for a whole group), in runs (a new group of the same key opens once
        one is full), or the request's exception.

        Parameters
        ----------
        requests : list of (str, RoutingContext or mapping, int, int)
            The prompt's key shared by its K rollouts, its routing context (the same for every
            slot), K (the router's ``num_rollouts``) and the number of slots wanted.
        have : collection of int
            The router steps whose states the client holds already.

        Returns
        -------
        Opened
            The runs, and the states of their steps that are not in ``have``.
        """
        with self._locked():
            self._counters["calls"] += 1
            step = self.router.step
            out: list[list[Run] | Exception] = []
            for request in requests:
                try:
                    runs = self._groups.take_slots(*request, step=step)
                except (TypeError, ValueError) as error:
                    out.append(error)
                    continue
                self._counters["groups"] += sum(run.first == 0 for run in runs)
                out.append(runs)
            needed = {run.step for runs in out if isinstance(runs, list) for run in runs}
            return Opened(out, {s: self._published[s] for s in needed.difference(have)})

    def close_many(self, tickets: list[str]) -> None:
        """Drop groups that their client could not route (a context the router refuses), so
        that they hold no slots and are not counted as routed."""
        with self._locked():
            self._counters["groups"] -= sum(map(self._groups.close, tickets))

    # ---------------------------------------------------------------- learning
    def report_many(self, reports: list[Report]) -> list[bool | Exception]:
        """Take rollouts' languages and rewards, per ``(ticket, slots, languages, rewards)``
        report (all K of a whole group at once): whether it completed a router step, or its
        exception (raised before that report changed anything).

        A report for a group no longer open (recorded, expired, or from before a restart) is
        dropped (``late_rewards``), so is a second one for a slot (``duplicate_rewards``); a
        slot never handed out, or a language its plan cannot hold, is refused. NaN is kept:
        the router counts it.
        """
        with self._locked():
            self._counters["calls"] += 1
            out: list[bool | Exception] = []
            for report in reports:
                try:
                    out.append(self._take_rewards(*report))
                except (TypeError, ValueError) as error:
                    out.append(error)
            return out

    def _take_rewards(self, ticket: str, *report: Sequence) -> bool:
        taken = self._groups.take_rewards(ticket, *report)
        counters = self._counters
        counters["rewards"] += taken.rewards
        counters["duplicate_rewards"] += taken.duplicates
        counters["late_rewards"] += taken.late
        if not taken.completed or len(self._groups.complete) < self.groups_per_step:
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
        """Record the ``count`` groups completed first as one router step: the plan their
        clients routed, rebuilt from the reported languages."""
        groups = self._groups.pop_complete(count)
        languages = np.array([g.languages for g in groups], dtype=object)
        arm = self._arms.get
        arms = np.array([arm(code, -1) for code in languages.ravel()], dtype=np.int64)
        plan = RoutingPlan(
            contexts=tuple(g.context for g in groups),
            languages=languages,
            arms=arms.reshape(languages.shape),
            step=self.router.step,
            keys=keys_to_uint64([g.ticket for g in groups]),
        )
        self.router.record(plan, np.array([g.rewards for g in groups]))
        expired = self._groups.next_step(expire_before=self.router.step - self.expire_after_steps)
        self._counters["expired_groups"] += expired
        self._publish()
        self._counters["recorded_steps"] += 1
        if self.state_path:  # written whole, then renamed: a crash never leaves half a file
            with open(self.state_path + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(self._state(), handle)
            os.replace(self.state_path + ".tmp", self.state_path)
        if self.metrics_path:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(self._metric_sums().metrics()) + "\n")

    def _publish(self) -> None:
        """Keep the router's state of this step for the clients, and those of the steps whose
        groups may still be open (older groups expire)."""
        step = self.router.step
        self._published[step] = self.router.state_dict()
        for old in [s for s in self._published if s < step - self.expire_after_steps]:
            del self._published[old]

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
            self._published.clear()
            self._publish()

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


def describe(router: BaseRouter, groups_per_step: int) -> dict[str, Any]:
    """The settings two clients must agree on to share one owner (JSON-safe)."""
    return {
        "policy": type(router).__name__,
        "router": router.config.model_dump(mode="json"),
        "groups_per_step": groups_per_step,
    }
