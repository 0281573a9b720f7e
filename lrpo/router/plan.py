"""`RoutingPlan`: which language each rollout of each prompt answers in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .context import RoutingContext

__all__ = ["RoutingPlan", "RoutingProbabilities"]


@dataclass(frozen=True)
class RoutingPlan:
    """B x K language assignments; row ``b`` is the group of prompt ``b``.

    The first ``K_on`` columns keep the prompt's own language. ``arms`` indexes the router's
    languages (-1 for a prompt language that is not an arm). Rows are in the trainer's order,
    so ``languages.ravel()`` lists rollouts as GRPO groups them.
    """

    contexts: tuple[RoutingContext, ...]
    languages: np.ndarray  # (B, K) language codes
    arms: np.ndarray  # (B, K) int
    step: int
    keys: np.ndarray  # (B,) uint64 routing keys

    def __len__(self) -> int:
        return len(self.contexts)

    @property
    def num_rollouts(self) -> int:
        return self.languages.shape[1]

    def language_shares(self) -> dict[str, float]:
        """Share of rollouts per language in this plan."""
        codes, counts = np.unique(self.languages, return_counts=True)
        return {
            str(code): count / self.languages.size
            for code, count in zip(codes, counts, strict=True)
        }

    @staticmethod
    def concat(plans: Sequence[RoutingPlan]) -> RoutingPlan:
        """Join plans of one step (e.g. gathered from data-parallel ranks) in order."""
        steps = {plan.step for plan in plans}
        if len(steps) != 1:
            raise ValueError(f"plans to join must share one step, got steps {sorted(steps)}")
        return RoutingPlan(
            contexts=tuple(c for plan in plans for c in plan.contexts),
            languages=np.concatenate([plan.languages for plan in plans]),
            arms=np.concatenate([plan.arms for plan in plans]),
            step=steps.pop(),
            keys=np.concatenate([plan.keys for plan in plans]),
        )


@dataclass(frozen=True)
class RoutingProbabilities:
    """The routing distribution of one prompt at one step.

    ``softmax`` is the router's own distribution; ``effective`` mixes in exploration,
    ``(1 - eps) * softmax + eps / |L|``, and is what a routed rollout is drawn from.
    """

    languages: tuple[str, ...]
    softmax: np.ndarray
    effective: np.ndarray
    epsilon: float
    temperature: float

    def as_dict(self) -> dict[str, float]:
        """Effective probability per language code."""
        return dict(zip(self.languages, self.effective.tolist(), strict=True))
