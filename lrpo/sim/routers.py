"""The routers a simulation can compare, by label, each configured for a scenario.

A label is a policy with its settings, built by :func:`lrpo.router.make_router`; only
``ema-embeddings`` is the simulator's own: the EMA router reading themes as embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.cluster.vq import kmeans2

from lrpo.router import BaseRouter, RouterConfig, make_router

from .scenario import Scenario

__all__ = ["ROUTERS", "RouterSpec", "build_router", "default_router_names", "router_config"]

#: Theme anchors of the embedding router: k-means clusters of the scenario's theme embeddings.
NUM_THEME_ANCHORS = 16


@dataclass(frozen=True)
class RouterSpec:
    """One labelled router: its policy, and the settings a scenario adapts (if it does)."""

    description: str
    policy: Mapping[str, Any]
    adapt: Callable[[RouterConfig, Scenario], dict[str, Any]] | None = None
    needs_theme_embeddings: bool = False

    def build(self, config: RouterConfig, scenario: Scenario) -> BaseRouter:
        """The router of this spec from a scenario's ``config`` (its policy is replaced; the
        fields ``config`` was not given keep the policy's defaults, e.g. Thompson's epsilon)."""
        settings = config.model_dump(exclude_unset=True) | {"policy": dict(self.policy)}
        if self.adapt is not None:
            settings |= self.adapt(config, scenario)
        return make_router(RouterConfig(**settings))


def router_config(scenario: Scenario, *, seed: int, **overrides: Any) -> RouterConfig:
    """The reference router config with the scenario's arms, themes and regions."""
    settings = {
        "languages": scenario.languages,
        "themes": scenario.themes,
        "regions": scenario.regions,
        "unrouted_themes": scenario.unrouted_themes,
        "regional_themes": scenario.regional_themes,
        "seed": seed,
    }
    return RouterConfig(**{**settings, **overrides})


def _theme_embeddings(config: RouterConfig, scenario: Scenario) -> dict[str, Any]:
    """Themes read as embeddings, one row per k-means anchor of the scenario's embeddings."""
    embeddings = np.asarray(scenario.theme_embeddings, dtype=np.float64)
    centres, _ = kmeans2(embeddings, NUM_THEME_ANCHORS, minit="++", seed=config.seed)
    anchors = {f"anchor-{i:02d}": tuple(centre.tolist()) for i, centre in enumerate(centres)}
    return {"themes": (), "theme_input": "embeddings", "theme_anchors": anchors}


ROUTERS: dict[str, RouterSpec] = {
    "ema": RouterSpec("LanguageRouter: the learned LRPO router (EMA)", {"kind": "ema"}),
    "ema-embeddings": RouterSpec(
        "LanguageRouter on theme embeddings (k-means anchors)",
        {"kind": "ema"},
        _theme_embeddings,
        needs_theme_embeddings=True,
    ),
    "thompson": RouterSpec("ThompsonRouter: Gaussian Thompson sampling", {"kind": "thompson"}),
    "monolingual": RouterSpec("every rollout in the prompt's language", {"kind": "monolingual"}),
    "input-dominant": RouterSpec(
        "dominant: the prompt's language with p=0.5, else uniform",
        {"kind": "dominant", "language": "input"},
    ),
    "english-dominant": RouterSpec(
        "dominant: English with p=0.5, else uniform", {"kind": "dominant", "language": "en"}
    ),
    "uniform": RouterSpec("a uniform language per routed rollout", {"kind": "uniform"}),
}


def default_router_names(scenario: Scenario) -> tuple[str, ...]:
    """Every router the scenario supports (the embedding router needs theme embeddings)."""
    return tuple(
        name
        for name, spec in ROUTERS.items()
        if scenario.theme_embeddings is not None or not spec.needs_theme_embeddings
    )


def build_router(name: str, scenario: Scenario, *, seed: int) -> BaseRouter:
    """Build router ``name`` for ``scenario``; routing draws are seeded with ``seed``."""
    spec = ROUTERS.get(name)
    if spec is None:
        raise ValueError(f"unknown router {name!r}; choose from {sorted(ROUTERS)}")
    if spec.needs_theme_embeddings and scenario.theme_embeddings is None:
        raise ValueError(
            f"router {name!r} needs theme embeddings, which scenario {scenario.name!r} lacks; "
            "use the fine-grained scenario"
        )
    return spec.build(router_config(scenario, seed=seed), scenario)
