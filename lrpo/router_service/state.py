"""The router service's saved state: its format, the check of a loaded one, its file.

The state file is written after every router step and read when an owner starts, so a run that
restarts resumes the router exactly; it is checked whole before anything is restored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from lrpo.router.state import check_counts

__all__ = ["COUNTERS", "STATE_FORMAT", "check_state", "write_state_file"]

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


def check_state(state: Any) -> tuple[Any, dict[str, int], dict[str, int]]:
    """The router's state, the groups opened per key and the counters of a service state.

    Raises
    ------
    ValueError
        Naming the field that is wrong (the router's own state is checked by the router).
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
    return state["router"], opened, counters


def write_state_file(path: str, state: Mapping[str, Any]) -> None:
    """Write ``state`` as JSON to ``path`` atomically (a crash never leaves half a file)."""
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(path + ".tmp", path)
