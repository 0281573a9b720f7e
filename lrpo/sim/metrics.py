"""What a simulated step tells about a router: quality, regret, language shares, collapse.

Only *routed* rollouts count: the K_on slots are in the prompt's language whatever the router
does, so counting them would dilute every difference between routers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .environment import PromptBatch, RoutingEnvironment

__all__ = ["CURVE_NAMES", "MetricsLog", "StepMetrics", "step_metrics"]

#: Per-step curves kept by :class:`MetricsLog`, in report order.
CURVE_NAMES = ("quality", "regret", "collapse", "entropy")


@dataclass(frozen=True)
class StepMetrics:
    """One step of one router, over its routed rollouts; NaN where the step routed none."""

    quality: float  # mean true quality
    regret: float  # mean shortfall against the oracle (0 with none routed)
    collapse: float  # share in the prompt's own (the reference) language
    entropy: float  # entropy (nats) of their languages
    shares: np.ndarray  # (L,) share per language


def step_metrics(
    env: RoutingEnvironment, batch: PromptBatch, arms: np.ndarray, num_on_policy: int
) -> StepMetrics:
    """Score the languages ``arms`` ``(B, K)`` a router chose for ``batch``."""
    routed = batch.routed[:, None] & (np.arange(arms.shape[1]) >= num_on_policy)
    count = int(routed.sum())
    num_languages = len(env.scenario.languages)
    if not count:
        return StepMetrics(np.nan, 0.0, np.nan, np.nan, np.full(num_languages, np.nan))
    quality = env.quality(batch, arms)[routed]
    oracle = np.broadcast_to(env.oracle(batch)[:, None], arms.shape)[routed]
    in_reference = (arms == batch.language[:, None])[routed]
    shares = np.bincount(arms[routed], minlength=num_languages) / count
    nonzero = shares[shares > 0]
    return StepMetrics(
        quality=float(quality.mean()),
        regret=float((oracle - quality).mean()),
        collapse=float(in_reference.mean()),
        entropy=float(-(nonzero * np.log(nonzero)).sum()),
        shares=shares,
    )


@dataclass
class MetricsLog:
    """Per-step metrics of one run, turned into curves at the end."""

    steps: list[StepMetrics] = field(default_factory=list)

    def append(self, metrics: StepMetrics) -> None:
        self.steps.append(metrics)

    def curves(self) -> dict[str, np.ndarray]:
        """``(steps,)`` arrays per :data:`CURVE_NAMES`; ``regret`` is cumulative."""
        curves = {
            name: np.array([getattr(step, name) for step in self.steps]) for name in CURVE_NAMES
        }
        curves["regret"] = np.cumsum(curves["regret"])
        return curves

    def shares(self, last: int) -> np.ndarray:
        """Mean language shares ``(L,)`` over the ``last`` steps (steps without routing skipped)."""
        return np.nanmean(np.stack([step.shares for step in self.steps[-last:]]), axis=0)
