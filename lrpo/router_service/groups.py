"""The owner's book of open groups: slots handed out in order, one reward and language each.

A group's ticket is ``"{group}@{step}#{n}"`` (``n`` counts the groups opened with that key in
the router step), so a prompt seen again gets fresh, reproducible draws. Slot 0 goes first, so
the first K_on askers keep the prompt's language. The owner never routes: a client routes the
group from the router state of the step it was opened in, and reports each slot's language with
its reward.
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lrpo.router import RoutingContext
from lrpo.router.context import ContextLike

from .config import GroupMismatchError

__all__ = ["Assignment", "OpenGroup", "OpenGroups", "Run", "Taken"]


@dataclass(frozen=True)
class Assignment:
    """One rollout's part of its group's plan; hand it back with its reward."""

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


class Run(NamedTuple):
    """Slots ``first .. first + count - 1`` of the group ``ticket``, opened at router ``step``
    (whose state routes it)."""

    ticket: str
    first: int
    count: int
    step: int


class Taken(NamedTuple):
    """What a report of some slots did: how many rewards it took and dropped, and whether it
    completed its group."""

    rewards: int = 0
    duplicates: int = 0  # slots reported before: the first reward stays
    late: int = 0  # slots of a group no longer open (recorded, expired, or before a restart)
    completed: bool = False


@dataclass(slots=True)
class OpenGroup:
    """A group handing out its slots and waiting for their rewards and languages.

    Plain lists: a group's few slots cost less in Python than in numpy calls.
    """

    group: str
    ticket: str
    context: RoutingContext
    step: int  # the router step it was opened (and routed) in
    rewards: list[float]  # (K,) NaN until reported, as reported (numbers)
    languages: list[str | None]  # (K,) None until reported
    unreported: int  # slots not reported yet
    next_slot: int = 0


class OpenGroups:
    """The open groups, by ticket, and the complete ones not yet recorded.

    Parameters
    ----------
    num_rollouts, num_on_policy : int
        The router's K and K_on.
    arms : mapping
        The router's language codes; a slot reports one of them or its prompt's language,
        and the first K_on slots only the prompt's.
    """

    def __init__(self, num_rollouts: int, num_on_policy: int, arms: Mapping[str, int]) -> None:
        self.num_rollouts, self.num_on_policy, self.arms = num_rollouts, num_on_policy, arms
        self.open: dict[str, OpenGroup] = {}  # ticket -> group
        self.opened: dict[str, int] = {}  # group key -> groups opened in this router step
        self.complete: deque[OpenGroup] = deque()
        self._filling: dict[str, OpenGroup] = {}  # group key -> group still handing out slots

    def take_slots(
        self, group: str, context: ContextLike, num_rollouts: int, count: int, step: int
    ) -> list[Run]:
        """The next ``count`` free slots of ``group``: the group filling now, then new groups
        opened at router ``step`` as each fills up. A bad request raises TypeError or
        ValueError (GroupMismatchError) and takes nothing."""
        if group.__class__ is not str or not group:
            raise TypeError(f"a group key is a non-empty string, got {group!r}")
        if count.__class__ is not int or count < 1:
            raise TypeError(f"a request asks for a count >= 1 of slots, got {count!r}")
        context = RoutingContext.coerce(context)
        if num_rollouts != self.num_rollouts:
            raise GroupMismatchError(
                f"group {group!r} is asked for with K={num_rollouts} rollouts but its plan has "
                f"K={self.num_rollouts}: the trainer's samples per prompt must equal the "
                "router's num_rollouts, and one key must not be reused with another K"
            )
        entry = self._filling.get(group)
        if entry is not None and entry.context != context:
            raise GroupMismatchError(
                f"group {group!r} was routed for {entry.context} but is now asked for "
                f"{context}: group keys must identify one prompt"
            )
        runs = []
        while count:
            if entry is None:
                entry = self._open(group, context, step)
            taken = min(count, self.num_rollouts - entry.next_slot)
            runs.append(Run(entry.ticket, entry.next_slot, taken, entry.step))
            entry.next_slot += taken
            count -= taken
            if entry.next_slot == self.num_rollouts:
                del self._filling[group]
                entry = None
        return runs

    def close(self, ticket: str) -> bool:
        """Drop a group that could not be routed, so that it holds no slot; whether it was open."""
        entry = self.open.pop(ticket, None)
        if entry is not None and self._filling.get(entry.group) is entry:
            del self._filling[entry.group]
        return entry is not None

    def take_rewards(
        self,
        ticket: str,
        slots: Sequence[int],
        languages: Sequence[str],
        rewards: Sequence[float],
    ) -> Taken:
        """Take the rewards and languages of some slots of one group; a group whose every slot
        reported moves to ``complete``. A malformed report raises TypeError or ValueError and
        changes nothing; of a slot reported twice, the first report stays."""
        if ticket.__class__ is not str:
            raise TypeError(f"a ticket is an Assignment's ticket string, got {ticket!r}")
        _check_report(slots, languages, rewards)
        entry = self.open.get(ticket)
        if entry is None:
            return Taken(late=len(slots))
        if slots and (min(slots) < 0 or max(slots) >= entry.next_slot):
            self._refuse_slots(entry, slots)
        prompt_language = entry.context.language
        wrong = set(languages).difference(self.arms)
        wrong.discard(prompt_language)
        k_on = self.num_on_policy
        on_policy = zip(slots, languages, strict=True)
        if wrong or any(c != prompt_language for s, c in on_policy if s < k_on):
            slot, language = next(
                (s, c)
                for s, c in zip(slots, languages, strict=True)
                if c in wrong or (s < k_on and c != prompt_language)
            )
            raise ValueError(
                f"slot {slot} of group {ticket!r} reports language {language!r}, which its "
                f"plan cannot hold (the prompt's {prompt_language!r}"
                + ("" if slot < k_on else " or one of the router's languages")
                + "): report the Assignment's language"
            )
        taken, values, reported = 0, entry.rewards, entry.languages
        for slot, language, reward in zip(slots, languages, rewards, strict=True):
            if reported[slot] is None:
                reported[slot], values[slot] = language, reward
                taken += 1
        entry.unreported -= taken
        completed = bool(taken) and not entry.unreported
        if completed:
            del self.open[ticket]
            self.complete.append(entry)
        return Taken(rewards=taken, duplicates=len(slots) - taken, completed=completed)

    def _refuse_slots(self, entry: OpenGroup, slots: Sequence[int]) -> None:
        """Raise for the first slot outside the group or not handed out yet."""
        k, ticket = self.num_rollouts, entry.ticket
        for slot in slots:
            if not 0 <= slot < k:
                raise ValueError(f"slot {slot} is outside 0..{k - 1} of group {ticket!r}")
            if slot >= entry.next_slot:
                raise ValueError(
                    f"slot {slot} of group {ticket!r} was never handed out (slots "
                    f"0..{entry.next_slot - 1} were): report the slot of an Assignment"
                )

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
        self._filling = {g: e for g, e in self._filling.items() if e.ticket in self.open}
        return len(stale)

    def _open(self, group: str, context: RoutingContext, step: int) -> OpenGroup:
        count = self.opened.get(group, 0)
        self.opened[group] = count + 1
        ticket = f"{group}@{step}#{count}"
        k = self.num_rollouts
        entry = OpenGroup(group, ticket, context, step, [np.nan] * k, [None] * k, k)
        self.open[ticket] = self._filling[group] = entry
        return entry


def _check_report(slots: Sequence[int], languages: Sequence[str], rewards: Sequence[float]) -> None:
    """Refuse slots that are not ints, languages not strings, rewards not numbers, or lengths
    that differ (the usual types checked in one pass each, the others one by one)."""
    if not _INT.issuperset(map(type, slots)):
        for slot in slots:
            if isinstance(slot, bool) or not isinstance(slot, int | np.integer):
                raise TypeError(
                    f"slot must be an Assignment's int slot, got {slot!r} ({type(slot).__name__})"
                )
    if not _STR.issuperset(map(type, languages)):
        bad = next(c for c in languages if not isinstance(c, str))
        raise TypeError(f"language must be an Assignment's code string, got {bad!r}")
    if not _NUMBER.issuperset(map(type, rewards)):
        for reward in rewards:
            if isinstance(reward, bool) or not isinstance(reward, numbers.Real):
                raise TypeError(
                    f"reward must be a number, got {reward!r} ({type(reward).__name__})"
                )
    if not len(slots) == len(languages) == len(rewards):
        raise ValueError(
            f"a report has {len(slots)} slots, {len(languages)} languages and {len(rewards)} "
            "rewards: one of each per rollout"
        )


_INT, _STR, _NUMBER = frozenset({int}), frozenset({str}), frozenset({float, int})
