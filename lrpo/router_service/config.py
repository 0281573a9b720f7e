"""`ServiceConfig` (where the router's single owner lives, how clients reach it) and the
service's errors, distinct so that plugin files can report them clearly."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GroupMismatchError", "RouterServiceError", "RouterServiceUnavailable", "ServiceConfig"]


class RouterServiceError(RuntimeError):
    """Base class of the router service's errors."""


class RouterServiceUnavailable(RouterServiceError):
    """The owner of the router cannot be reached (not started, gone, or not answering)."""


class GroupMismatchError(RouterServiceError, ValueError):
    """A group key asked for with another K or another routing context than when first seen."""


class ServiceConfig(BaseModel):
    """How trainer workers share one router.

    ``groups_per_step`` must be the trainer's prompts per training step (OpenRLHF
    ``--rollout.batch_size``, verl ``data.train_batch_size``): neither trainer tells a plugin
    where a step ends, so the owner records one router step per that many completed groups.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    backend: Literal["local", "ray"] = "local"
    """'local': the router lives in this process; 'ray': a named actor."""
    name: str = Field("lrpo-router", min_length=1)
    """Name of the Ray actor."""
    namespace: str = Field("lrpo", min_length=1)
    """Ray namespace of the actor."""
    timeout_s: float = Field(30.0, gt=0)
    """Longest wait for the owner's answer (Ray) or its lock (local)."""
    groups_per_step: int = Field(..., ge=1)
    """Prompts (groups) per training step: one router step per that many."""
    expire_after_steps: int = Field(8, ge=1)
    """Open groups routed this many router steps ago are dropped (counted in expired_groups): a
    rollout that never reported (failed, or an evaluation set routed with fewer samples than
    K) must not hold its group forever.
    """
    state_path: str | None = None
    """JSON file the owner writes its state to after every router step and resumes from at start;
    None: no persistence.
    """
    metrics_path: str | None = None
    """JSON-lines file the owner appends its metrics to after every router step (the trainers'
    loggers never see the owner); None: none written.
    """

    def owner_settings(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~lrpo.router_service.RouterService` besides the router."""
        return self.model_dump(exclude={"backend", "name", "namespace"})
