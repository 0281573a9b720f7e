"""The book of a router service's open groups: slots handed out in order, one reward each.

A group's ticket is ``"{group}@{step}#{n}"`` (``n`` counts the groups opened with that key in
the router step), so a prompt seen again gets fresh, reproducible draws. Slot 0 goes first, so
the first K_on askers keep the prompt's language.
"""

from __future__ import annotations

import numbers
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lrpo.router import RoutingContext
from lrpo.router.context import ContextLike

from .config import GroupMismatchError

__all__ = ["Assignment", "OpenGroup", "OpenGroups"]

#: What a report did: dropped (``late``, ``duplicate``), or taken, completing its group or not.
Outcome = Literal["late", "duplicate", "taken", "completed"]


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
        """A rollout kept in its prompt's language without asking the router (no ticket)."""
        return cls(ticket="", slot=-1, language=language, prompt_language=language, step=-1)


@dataclass
class OpenGroup:
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

    def assignment(self, slot: int) -> Assignment:
        """The routed group's ``slot``, as its client gets it."""
        return Assignment(
            ticket=self.ticket,
            slot=slot,
            language=str(self.languages[slot]),
            prompt_language=self.context.language,
            step=self.step,
        )


class OpenGroups:
    """The open groups, by ticket, and the complete ones not yet recorded; K = ``num_rollouts``."""

    def __init__(self, num_rollouts: int) -> None:
        self.num_rollouts = num_rollouts
        self.open: dict[str, OpenGroup] = {}  # ticket -> group
        self.opened: dict[str, int] = {}  # group key -> groups opened in this router step
        self.complete: deque[OpenGroup] = deque()
        self._filling: dict[str, str] = {}  # group key -> ticket still handing out slots

    def take_slot(
        self, group: str, context: ContextLike, num_rollouts: int, step: int
    ) -> tuple[OpenGroup, int]:
        """The next free slot of ``group``, opening the group (at router ``step``) if needed;
        a bad request raises TypeError or ValueError (GroupMismatchError) and takes nothing."""
        if not isinstance(group, str) or not group:
            raise TypeError(f"a group key is a non-empty string, got {group!r}")
        context = RoutingContext.coerce(context)
        ticket = self._filling.get(group)
        if ticket is None:
            _check_rollouts(group, num_rollouts, self.num_rollouts)
            ticket = self._open_group(group, context, step)
        entry = self.open[ticket]
        _check_rollouts(group, num_rollouts, len(entry.rewards))
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

    def close(self, entry: OpenGroup) -> None:
        """Drop a group that could not be routed, so that it holds no slot."""
        del self.open[entry.ticket]
        if self._filling.get(entry.group) == entry.ticket:
            del self._filling[entry.group]

    def take_reward(self, ticket: str, slot: int, reward: float) -> Outcome:
        """Take one slot's reward; a group whose every slot reported moves to ``complete``.
        A malformed report raises TypeError or ValueError and changes nothing."""
        if not isinstance(ticket, str):
            raise TypeError(f"a ticket is an Assignment's ticket string, got {ticket!r}")
        if isinstance(slot, bool) or not isinstance(slot, int | np.integer):
            raise TypeError(
                f"slot must be an Assignment's int slot, got {slot!r} ({type(slot).__name__})"
            )
        if isinstance(reward, bool) or not isinstance(reward, numbers.Real):
            raise TypeError(f"reward must be a number, got {reward!r} ({type(reward).__name__})")
        entry = self.open.get(ticket)
        if entry is None:
            return "late"
        k = len(entry.rewards)
        if not 0 <= slot < k:
            raise ValueError(f"slot {slot} is outside 0..{k - 1} of group {ticket!r}")
        if slot >= entry.next_slot:
            raise ValueError(
                f"slot {slot} of group {ticket!r} was never handed out (slots "
                f"0..{entry.next_slot - 1} were): report the slot of an Assignment"
            )
        if entry.reported[slot]:
            return "duplicate"
        entry.rewards[slot] = float(reward)
        entry.reported[slot] = True
        if not entry.reported.all():
            return "taken"
        del self.open[ticket]
        self.complete.append(entry)
        return "completed"

    def pop_complete(self, count: int) -> list[OpenGroup]:
        """The ``count`` groups completed first, removed (to be recorded)."""
        return [self.complete.popleft() for _ in range(count)]

    def next_step(self, expire_before: int) -> int:
        """A router step was recorded: key counts restart, and the open groups routed before
        step ``expire_before`` are dropped (their rewards will count as late); how many."""
        self.opened.clear()
        stale = [ticket for ticket, entry in self.open.items() if entry.step < expire_before]
        for ticket in stale:
            del self.open[ticket]
        self._filling = {g: t for g, t in self._filling.items() if t in self.open}
        return len(stale)

    def _open_group(self, group: str, context: RoutingContext, step: int) -> str:
        count = self.opened.get(group, 0)
        self.opened[group] = count + 1
        ticket = f"{group}@{step}#{count}"
        k = self.num_rollouts
        self.open[ticket] = OpenGroup(
            group, ticket, context, step, np.full(k, np.nan), np.zeros(k, bool)
        )
        self._filling[group] = ticket
        return ticket


def _check_rollouts(group: str, asked: int, planned: int) -> None:
    if asked != planned:
        raise GroupMismatchError(
            f"group {group!r} is asked for with K={asked} rollouts but its plan has "
            f"K={planned}: the trainer's samples per prompt must equal the router's "
            "num_rollouts, and one key must not be reused with another K"
        )
