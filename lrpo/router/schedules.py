"""Annealing schedules for the routing temperature and the exploration rate."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Schedule"]


class Schedule(BaseModel):
    """A value that moves from ``start`` towards ``end`` as training steps pass.

    ``exponential`` is the reference rule ``max(end, start * decay**t)``; ``linear`` and
    ``cosine`` reach ``end`` after ``steps`` steps and stay there; ``constant`` stays ``start``.

    Examples
    --------
    >>> round(Schedule(kind="exponential", start=1.0, end=0.3, decay=0.999).value(100), 4)
    0.9048
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    kind: Literal["exponential", "linear", "cosine", "constant"] = "exponential"
    """Shape of the curve from start to end."""
    start: float = 1.0
    """Value at step 0."""
    end: float = 0.3
    """Floor (exponential) or final value (linear, cosine)."""
    decay: float = Field(0.999, gt=0.0, le=1.0)
    """Per-step factor (exponential)."""
    steps: int = Field(1000, ge=1)
    """Steps to reach `end` (linear, cosine)."""

    @model_validator(mode="after")
    def _check_finite(self) -> Schedule:
        for name in ("start", "end", "decay"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"schedule {name} must be finite, got {getattr(self, name)}")
        if self.kind == "exponential" and self.end > self.start:
            raise ValueError(
                f"an exponential schedule decays to a floor: end ({self.end}) must be <= start "
                f"({self.start}); use kind='linear' or 'cosine' to rise"
            )
        return self

    def value(self, step: int) -> float:
        """The scheduled value at training step ``step`` (>= 0)."""
        if self.kind == "constant":
            return self.start
        if self.kind == "exponential":
            return max(self.end, self.start * self.decay**step)
        progress = min(step, self.steps) / self.steps
        if self.kind == "cosine":
            progress = 0.5 * (1.0 - math.cos(math.pi * progress))
        return self.start + (self.end - self.start) * progress

    @property
    def minimum(self) -> float:
        """The smallest value the schedule ever takes."""
        return self.start if self.kind == "constant" else min(self.start, self.end)

    @property
    def maximum(self) -> float:
        """The largest value the schedule ever takes."""
        return self.start if self.kind == "constant" else max(self.start, self.end)
