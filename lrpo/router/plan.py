"""`RoutingPlan`: which language each rollout of each prompt answers in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .context import RoutingContext

__all__ = ["RoutingPlan", "RoutingProbabilities", "check_plan_arms", "rewards_array"]


@dataclass(frozen=True)
class RoutingPlan:
    """B x K language assignments; row ``b`` is the group of prompt ``b``, in trainer order.

    The first ``K_on`` columns keep the prompt's own language. ``arms`` indexes the router's
    languages (-1 for a prompt language that is not an arm). ``effective`` row ``b`` is the
    distribution prompt ``b``'s routed rollouts were drawn from,
    ``router.distributions(contexts, step=plan.step)[1][b]``; None for routers without an
    explicit distribution (Thompson sampling, monolingual) and when ``K_on == K``.
    """

    contexts: tuple[RoutingContext, ...]
    languages: np.ndarray  # (B, K) language codes
    arms: np.ndarray  # (B, K) int
    step: int
    keys: np.ndarray  # (B,) uint64 routing keys
    effective: np.ndarray | None = None  # (B, L) distribution of the routed draws
    # Set by the router (not compared, shown, copied, joined or pickled): the router that
    # routed the plan, and the history and step it was recorded at, so it is recorded once.
    _origin: object | None = field(default=None, init=False, repr=False, compare=False)
    _recorded: tuple[object, int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return len(self.contexts)

    @property
    def num_rollouts(self) -> int:
        return self.languages.shape[1]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without what belongs to the router object that routed or recorded it."""
        return {**self.__dict__, "_origin": None, "_recorded": None}

    @staticmethod
    def concat(plans: Sequence[RoutingPlan]) -> RoutingPlan:
        """Join plans of one step (e.g. gathered from data-parallel ranks) in order;
        ``effective`` is None unless every plan has it."""
        steps = {plan.step for plan in plans}
        if len(steps) != 1:
            raise ValueError(f"plans to join must share one step, got steps {sorted(steps)}")
        effective = [plan.effective for plan in plans]
        return RoutingPlan(
            contexts=tuple(c for plan in plans for c in plan.contexts),
            languages=np.concatenate([plan.languages for plan in plans]),
            arms=np.concatenate([plan.arms for plan in plans]),
            step=steps.pop(),
            keys=np.concatenate([plan.keys for plan in plans]),
            effective=None if any(e is None for e in effective) else np.concatenate(effective),
        )


@dataclass(frozen=True)
class RoutingProbabilities:
    """The routing distribution of one prompt at one step: the router's ``softmax`` and the
    ``effective`` one routed rollouts are drawn from, ``(1 - eps) * softmax + eps / |L|``."""

    languages: tuple[str, ...]
    softmax: np.ndarray
    effective: np.ndarray
    epsilon: float
    temperature: float

    def as_dict(self) -> dict[str, float]:
        """Effective probability per language code."""
        return dict(zip(self.languages, self.effective.tolist(), strict=True))


def rewards_array(plan: RoutingPlan, rewards: Any) -> np.ndarray:
    """``rewards`` as a float array of the plan's shape, or a clear error."""
    try:
        array = np.asarray(rewards, dtype=np.float64)
    except (TypeError, ValueError):
        rows = rewards if isinstance(rewards, Sequence) else ()
        lengths = sorted({len(row) for row in rows if isinstance(row, Sequence)})
        ragged = len(lengths) > 1
        got = f"rows of lengths {lengths}" if ragged else "values that are not numbers"
        raise ValueError(
            f"rewards must be a B x K array of numbers, {plan.arms.shape} for this plan "
            f"(one row of K rewards per prompt, in plan order); got {got}"
        ) from None
    if array.shape != plan.arms.shape:
        raise ValueError(
            f"rewards have shape {array.shape}, the plan has {plan.arms.shape} (B x K): "
            "pass one reward per routed rollout, in plan order"
        )
    return array


def check_plan_arms(plan: RoutingPlan, codes: np.ndarray) -> None:
    """Refuse a plan (built by hand, joined or unpickled) that does not index ``codes``."""
    arms, languages, size = plan.arms, plan.languages, len(codes)
    if not (
        isinstance(arms, np.ndarray)
        and isinstance(languages, np.ndarray)
        and arms.dtype.kind in "iu"
        and arms.ndim == 2
        and languages.shape == arms.shape == (len(plan.contexts), arms.shape[1])
        and (not arms.size or -1 <= arms.min() <= arms.max() < size)
    ):
        raise ValueError(
            f"a plan needs plan.arms, integer ids in -1..{size - 1}, and plan.languages, "
            "as arrays of one shape (B, K) with B = len(plan.contexts); got "
            f"{_shape(arms)} arms and {_shape(languages)} languages for "
            f"{len(plan.contexts)} contexts"
        )
    on_arm = arms >= 0
    if not np.array_equal(codes[arms[on_arm]], languages[on_arm]):
        raise ValueError(
            "plan.languages are not this router's languages at plan.arms (arms are "
            f"{list(codes)}, in this order): the plan was made by another router"
        )


def _shape(value: Any) -> str:
    """An array's dtype and shape, or the type of something else, for messages."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape}"
    return type(value).__name__
