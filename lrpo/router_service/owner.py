"""`RouterService`: the single owner of a router that many trainer workers route through.

OpenRLHF's vLLM engines and verl's agent-loop workers each load a plugin file on their own and
see one rollout at a time, with no slot index and no step boundary. The owner turns that into
what a router needs: it routes a whole group (K rollouts) when the group's first rollout asks,
hands the group's slots out in arrival order (slot 0 first, so the first K_on askers keep the
prompt's language), collects one reward per slot, and records a router step once
``groups_per_step`` groups are complete. Routing keys are ``"{group}@{step}#{n}"`` (``n`` counts
the groups opened with that key during the router step), so a prompt seen again, in a later
epoch or twice in one batch, gets fresh and reproducible draws, and the owner keeps no
per-prompt history.
"""

from __future__ import annotations

import json
import numbers
import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrpo.router import BaseRouter, RoutingContext, RoutingPlan
from lrpo.router.context import ContextLike
from lrpo.router.state import check_counts

from .errors import GroupMismatchError, RouterServiceError, RouterServiceUnavailable

__all__ = ["Assignment", "RouterService", "describe"]

STATE_FORMAT = 1
_COUNTERS = (
    "groups",
    "rewards",
    "late_rewards",
    "duplicate_rewards",
    "expired_groups",
    "recorded_steps",
)


@dataclass(frozen=True)
class Assignment:
    """One rollout's part of its group's plan; hand ``ticket`` and ``slot`` back with its reward."""

    ticket: str
    slot: int
    language: str
    prompt_language: str
    step: int

    @property
    def routed(self) -> bool:
        """Whether the rollout answers in another language than the prompt's."""
        return self.language != self.prompt_language

    @classmethod
    def unrouted(cls, language: str) -> Assignment:
        """A rollout kept in its prompt's language without asking the router (no ticket, so
        its reward is not reported)."""
        return cls(ticket="", slot=-1, language=language, prompt_language=language, step=-1)


@dataclass
class _OpenGroup:
    """A group handing out its slots and waiting for their rewards; routed once per batch."""

    group: str
    ticket: str
    context: RoutingContext
    step: int  # the router step it was opened (and routed) in
    rewards: np.ndarray  # (K,) NaN until reported
    reported: np.ndarray  # (K,) bool
    next_slot: int = 0
    key: int = 0
    languages: np.ndarray | None = None  # (K,) codes, once routed
    arms: np.ndarray | None = None  # (K,) arm ids, once routed


Request = tuple[str, ContextLike, int]
Report = tuple[str, int, float]


class RouterService:
    """Own a router; route groups for many clients and learn from their rewards.

    Thread-safe (one lock): OpenRLHF calls reward files from worker threads. A call waits
    at most ``timeout_s`` for the lock, then raises :class:`RouterServiceUnavailable` having
    changed nothing.

    Each bad request or report of a batch fails alone, with its own error; the others proceed.
    A reward is taken once per slot: a second report for a slot is dropped and counted
    (``duplicate_rewards``), so the first reward counts.

    Parameters
    ----------
    router : BaseRouter
        The router to own.
    groups_per_step : int
        Completed groups per router step (the trainer's prompts per step).
    expire_after_steps : int
        Open groups routed that many router steps ago are dropped when a step is recorded.
    state_path : str, optional
        Where to save the state after each router step, and to resume from if it exists.
    metrics_path : str, optional
        JSON-lines file that gets the metrics after each router step.
    timeout_s : float, optional
        Longest wait for the lock held by another call; None: no limit.
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
        self._open: dict[str, _OpenGroup] = {}  # ticket -> group
        self._filling: dict[str, str] = {}  # group key -> ticket still handing out slots
        self._opened: dict[str, int] = {}  # group key -> groups opened in this router step
        self._complete: deque[_OpenGroup] = deque()
        self.counters = dict.fromkeys(_COUNTERS, 0)
        if state_path and os.path.isfile(state_path):
            self._resume(state_path)

    @property
    def num_rollouts(self) -> int:
        return self.router.config.num_rollouts

    # ----------------------------------------------------------------- routing
    def assign(self, group: str, context: ContextLike, num_rollouts: int) -> Assignment:
        """The next free slot of ``group``'s plan, routing the group on its first request."""
        return _raised(self.assign_many([(group, context, num_rollouts)])[0])

    def assign_many(self, requests: list[Request]) -> list[Assignment | Exception]:
        """:meth:`assign` for a batch of ``(group, context, K)``, in order; the new groups are
        routed in one call. A bad request gets its exception in its place; the others proceed.
        """
        with self._locked():
            taken: list[tuple[_OpenGroup, int] | Exception] = []
            for request in requests:
                try:
                    taken.append(self._take_slot(*request))
                except (TypeError, ValueError) as error:
                    taken.append(error)
            failed = self._route_new([t[0] for t in taken if isinstance(t, tuple)])
            out: list[Assignment | Exception] = []
            for result in taken:
                if isinstance(result, tuple):
                    entry, slot = result
                    error = failed.get(id(entry))
                    result = self._assignment(entry, slot) if error is None else error
                out.append(result)
            return out

    def _route_new(self, entries: list[_OpenGroup]) -> dict[int, Exception]:
        """Route the groups among ``entries`` not routed yet; the error of each that fails.

        A group whose context cannot be routed (a theme embedding of the wrong size, ...) is
        closed, so that it neither holds a slot nor stays open, and only its requests fail.
        """
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
                del self._open[entry.ticket]
                if self._filling.get(entry.group) == entry.ticket:
                    del self._filling[entry.group]
        return failed

    def _route(self, entries: list[_OpenGroup]) -> None:
        if not entries:
            return
        plan = self.router.route([e.context for e in entries], keys=[e.ticket for e in entries])
        for row, entry in enumerate(entries):
            entry.key = int(plan.keys[row])
            entry.languages, entry.arms = plan.languages[row], plan.arms[row]
        self.counters["groups"] += len(entries)

    def _take_slot(
        self, group: str, context: ContextLike, num_rollouts: int
    ) -> tuple[_OpenGroup, int]:
        if not isinstance(group, str) or not group:
            raise TypeError(f"a group key is a non-empty string, got {group!r}")
        context = RoutingContext.coerce(context)
        ticket = self._filling.get(group)
        if ticket is None:
            self._check_rollouts(group, num_rollouts, self.num_rollouts)
            ticket = self._open_group(group, context)
        entry = self._open[ticket]
        self._check_rollouts(group, num_rollouts, len(entry.rewards))
        if entry.context != context:
            raise GroupMismatchError(
                f"group {group!r} was routed for {entry.context} but is now asked for "
                f"{context}: group keys must identify one prompt"
            )
        slot = entry.next_slot
        entry.next_slot += 1
        if entry.next_slot == len(entry.rewards):
            del self._filling[group]
        return entry, slot

    @staticmethod
    def _assignment(entry: _OpenGroup, slot: int) -> Assignment:
        return Assignment(ticket=entry.ticket, slot=slot, language=str(entry.languages[slot]),
                          prompt_language=entry.context.language, step=entry.step)  # fmt: skip

    def _open_group(self, group: str, context: RoutingContext) -> str:
        count = self._opened.get(group, 0)
        self._opened[group] = count + 1
        step = self.router.step
        ticket = f"{group}@{step}#{count}"
        k = self.num_rollouts
        self._open[ticket] = _OpenGroup(
            group, ticket, context, step, np.full(k, np.nan), np.zeros(k, bool)
        )
        self._filling[group] = ticket
        return ticket

    @staticmethod
    def _check_rollouts(group: str, asked: int, planned: int) -> None:
        if asked != planned:
            raise GroupMismatchError(
                f"group {group!r} is asked for with K={asked} rollouts but its plan has "
                f"K={planned}: the trainer's samples per prompt must equal the router's "
                "num_rollouts, and one key must not be reused with another K"
            )

    # ---------------------------------------------------------------- learning
    def report(self, ticket: str, slot: int, reward: float) -> bool:
        """Take one rollout's reward; returns whether a router step was recorded.

        A reward for a group that is no longer open (already recorded, or from before a
        restart) is counted in ``late_rewards`` and dropped; so is a second reward for a slot
        (``duplicate_rewards``): the first one counts. A slot that was never handed out is
        refused. NaN is kept: the router counts it.
        """
        return _raised(self.report_many([(ticket, slot, reward)])[0])

    def report_many(self, reports: list[Report]) -> list[bool | Exception]:
        """:meth:`report` for a batch of ``(ticket, slot, reward)``, in order; a bad report
        gets its exception in its place, before it changes anything."""
        with self._locked():
            out: list[bool | Exception] = []
            for report in reports:
                try:
                    out.append(self._take_reward(*report))
                except (TypeError, ValueError) as error:
                    out.append(error)
            return out

    def _take_reward(self, ticket: str, slot: int, reward: float) -> bool:
        if not isinstance(ticket, str):
            raise TypeError(f"a ticket is an Assignment's ticket string, got {ticket!r}")
        if isinstance(slot, bool) or not isinstance(slot, int | np.integer):
            raise TypeError(
                f"slot must be an Assignment's int slot, got {slot!r} ({type(slot).__name__})"
            )
        if isinstance(reward, bool) or not isinstance(reward, numbers.Real):
            raise TypeError(f"reward must be a number, got {reward!r} ({type(reward).__name__})")
        entry = self._open.get(ticket)
        if entry is None:
            self.counters["late_rewards"] += 1
            return False
        k = len(entry.rewards)
        if not 0 <= slot < k:
            raise ValueError(f"slot {slot} is outside 0..{k - 1} of group {ticket!r}")
        if slot >= entry.next_slot:
            raise ValueError(
                f"slot {slot} of group {ticket!r} was never handed out (slots "
                f"0..{entry.next_slot - 1} were): report the slot of an Assignment"
            )
        if entry.reported[slot]:
            self.counters["duplicate_rewards"] += 1
            return False
        entry.rewards[slot] = float(reward)
        entry.reported[slot] = True
        self.counters["rewards"] += 1
        if not entry.reported.all():
            return False
        del self._open[ticket]
        self._complete.append(entry)
        if len(self._complete) < self.groups_per_step:
            return False
        self._record(self.groups_per_step)
        return True

    def flush(self) -> bool:
        """Record the completed groups now, however few (end of training)."""
        with self._locked():
            if not self._complete:
                return False
            self._record(len(self._complete))
            return True

    def _record(self, count: int) -> None:
        groups = [self._complete.popleft() for _ in range(count)]
        plan = RoutingPlan(
            contexts=tuple(g.context for g in groups),
            languages=np.stack([g.languages for g in groups]),
            arms=np.stack([g.arms for g in groups]),
            step=self.router.step,
            keys=np.array([g.key for g in groups], dtype=np.uint64),
        )
        self.router.record(plan, np.stack([g.rewards for g in groups]))
        self._opened.clear()
        self._expire(self.router.step - self.expire_after_steps)
        self.counters["recorded_steps"] += 1
        if self.state_path:
            self._save(self.state_path)
        if self.metrics_path:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(self._metrics()) + "\n")

    def _expire(self, before_step: int) -> None:
        """Drop the open groups routed before ``before_step`` (their rewards count as late)."""
        stale = [ticket for ticket, entry in self._open.items() if entry.step < before_step]
        for ticket in stale:
            del self._open[ticket]
        self._filling = {g: t for g, t in self._filling.items() if t in self._open}
        self.counters["expired_groups"] += len(stale)

    # ---------------------------------------------------------------- reports
    def metrics(self) -> dict[str, float]:
        """Router metrics plus the service's own counters, prefixed ``router/service/``."""
        with self._locked():
            return self._metrics()

    def _metrics(self) -> dict[str, float]:
        out = self.router.metrics()
        out.update({f"router/service/{k}": float(v) for k, v in self.counters.items()})
        out["router/service/open_groups"] = float(len(self._open))
        out["router/service/complete_groups"] = float(len(self._complete))
        return out

    def describe(self) -> dict[str, Any]:
        """What a client checks before sharing this owner: policy, router config, step size."""
        return describe(self.router, self.groups_per_step)

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The router, the groups opened this step and the counters (open groups are in
        flight and not saved)."""
        with self._locked():
            return self._state()

    def _state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "router": self.router.state_dict(),
            "opened": dict(self._opened),
            "counters": dict(self.counters),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the whole state is checked first, so that a bad one is
        refused with the field that is wrong and changes nothing."""
        fmt = state.get("format") if isinstance(state, Mapping) else None
        if type(fmt) is not int or fmt != STATE_FORMAT:
            raise ValueError(
                f"router service state 'format' is {fmt!r}, not {STATE_FORMAT}: load a state "
                "saved by RouterService.state_dict()"
            )
        opened = check_counts(state.get("opened"), "opened")
        counters = check_counts(state.get("counters"), "counters", known=_COUNTERS)
        if "router" not in state:
            raise ValueError("router service state lacks its 'router' state")
        with self._locked():
            self.router.load_state_dict(state["router"])  # checked whole, before it changes
            self._opened = opened
            self.counters.update(counters)

    def _resume(self, path: str) -> None:
        """Load the state file, or say which file cannot be resumed from and what to do."""
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
        timeout = -1 if self.timeout_s is None else self.timeout_s
        if not self._lock.acquire(timeout=timeout):
            raise RouterServiceUnavailable(
                f"the router service did not answer within timeout_s={self.timeout_s} s: "
                "another call held it that long (nothing was changed)"
            )
        try:
            yield
        finally:
            self._lock.release()

    def _save(self, path: str) -> None:
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(self._state(), handle)
        os.replace(path + ".tmp", path)


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
