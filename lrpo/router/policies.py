"""Routing policies as config values: which router a `RouterConfig` builds, with its settings.

A policy is one small validated model per router, told apart by ``kind``; ``RouterConfig.policy``
holds one, so choosing a policy and its settings never needs a second channel beside the config
(constructor keywords, saved parameters). Checks that need the arms (a dominant language, the
languages of a fixed distribution) sit in ``RouterConfig``'s validator.

Examples
--------
>>> from lrpo import RouterConfig
>>> config = RouterConfig(policy={"kind": "thompson", "prior_strength": 4.0})
>>> config.policy
ThompsonPolicy(kind='thompson', prior_strength=4.0, noise_scale=1.0, discount=1.0)
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DominantPolicy",
    "EmaPolicy",
    "FixedPolicy",
    "MonolingualPolicy",
    "Policy",
    "ThompsonPolicy",
    "UniformPolicy",
]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmaPolicy(_Policy):
    """The LRPO router: softmax over EMA-learned logits (:class:`lrpo.LanguageRouter`)."""

    kind: Literal["ema"] = "ema"


class ThompsonPolicy(_Policy):
    """Gaussian Thompson sampling over the same cells (:class:`lrpo.ThompsonRouter`)."""

    kind: Literal["thompson"] = "thompson"
    prior_strength: float = Field(
        1.0, gt=0.0, description="Pseudo-observations behind the prior logit of each cell."
    )
    noise_scale: float = Field(
        1.0, gt=0.0, description="Standard deviation of one window's normalised bucket reward."
    )
    discount: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Factor on past evidence at each update (1 = stationary; < 1 tracks a "
        "changing policy).",
    )

    @field_validator("prior_strength", "noise_scale")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value


class DominantPolicy(_Policy):
    """One language with probability ``weight`` (plus its uniform share), else uniform."""

    kind: Literal["dominant"] = "dominant"
    language: str = Field(
        "input",
        description="'input' (the prompt's own language: the input-dominant baseline) or an arm, "
        "e.g. 'en' (English-dominant, MAPO-style).",
    )
    weight: float = Field(0.5, ge=0.0, le=1.0, description="Probability of the dominant language.")


class FixedPolicy(_Policy):
    """Every routed rollout drawn from one given distribution over the arms."""

    kind: Literal["fixed"] = "fixed"
    distribution: dict[str, float] = Field(
        description="Weight per arm (normalised; unlisted arms get 0), e.g. {'de': 3, 'sw': 1}."
    )

    @field_validator("distribution")
    @classmethod
    def _weights(cls, distribution: dict[str, float]) -> dict[str, float]:
        values = list(distribution.values())
        if not all(math.isfinite(v) and v >= 0 for v in values) or not sum(values) > 0:
            raise ValueError(
                f"distribution must be finite, non-negative and not all zero, got {distribution}"
            )
        return distribution


class UniformPolicy(_Policy):
    """Every routed rollout in a uniformly drawn language."""

    kind: Literal["uniform"] = "uniform"


class MonolingualPolicy(_Policy):
    """Plain GRPO: every rollout answers in the prompt's own language."""

    kind: Literal["monolingual"] = "monolingual"


#: Any policy, read from a mapping by its ``kind``.
Policy = Annotated[
    EmaPolicy | ThompsonPolicy | DominantPolicy | FixedPolicy | UniformPolicy | MonolingualPolicy,
    Field(discriminator="kind"),
]
