"""Errors of the router service, distinct so plugin files can report them clearly."""

from __future__ import annotations

__all__ = ["GroupMismatchError", "RouterServiceError", "RouterServiceUnavailable"]


class RouterServiceError(RuntimeError):
    """Base class of the router service's errors."""


class RouterServiceUnavailable(RouterServiceError):
    """The owner of the router cannot be reached (not started, gone, or not answering)."""


class GroupMismatchError(RouterServiceError, ValueError):
    """A group key asked for with another K or another routing context than when first seen."""
