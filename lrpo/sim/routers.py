"""The routers a simulation can compare, by name, each configured for a scenario."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.cluster.vq import kmeans2

from lrpo.router import (
    BaseRouter,
    DominantLanguageRouter,
    LanguageRouter,
    MonolingualRouter,
    RouterConfig,
    ThompsonRouter,
    UniformRouter,
)

from .scenario import Scenario

__all__ = ["ROUTERS", "RouterSpec", "default_router_names", "make_router", "router_config"]

#: Theme anchors of the embedding router: k-means clusters of the scenario's theme embeddings.
NUM_THEME_ANCHORS = 16


@dataclass(frozen=True)
class RouterSpec:
    """How to build one named router from a scenario's router config."""

    description: str
    build: Callable[[RouterConfig, Scenario], BaseRouter]
    needs_theme_embeddings: bool = False


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


def _embedding_router(config: RouterConfig, scenario: Scenario) -> LanguageRouter:
    """LRPO router reading themes as embeddings, one row per k-means anchor."""
    embeddings = np.asarray(scenario.theme_embeddings, dtype=np.float64)
    centres, _ = kmeans2(embeddings, NUM_THEME_ANCHORS, minit="++", seed=config.seed)
    anchors = {f"anchor-{i:02d}": tuple(centre.tolist()) for i, centre in enumerate(centres)}
    settings = config.model_dump() | {
        "themes": (),
        "theme_input": "embeddings",
        "theme_anchors": anchors,
    }
    return LanguageRouter(RouterConfig(**settings))


ROUTERS: dict[str, RouterSpec] = {
    "ema": RouterSpec(
        "LanguageRouter: the learned LRPO router (EMA)", lambda c, s: LanguageRouter(c)
    ),
    "ema-embeddings": RouterSpec(
        "LanguageRouter on theme embeddings (k-means anchors)", _embedding_router, True
    ),
    "thompson": RouterSpec(
        "ThompsonRouter: Gaussian Thompson sampling", lambda c, s: ThompsonRouter(c)
    ),
    "monolingual": RouterSpec(
        "every rollout in the prompt's language", lambda c, s: MonolingualRouter(c)
    ),
    "input-dominant": RouterSpec(
        "prompt's language with p=0.5, else uniform",
        lambda c, s: DominantLanguageRouter(c, language="input"),
    ),
    "english-dominant": RouterSpec(
        "English with p=0.5, else uniform", lambda c, s: DominantLanguageRouter(c, language="en")
    ),
    "uniform": RouterSpec("a uniform language per routed rollout", lambda c, s: UniformRouter(c)),
}


def default_router_names(scenario: Scenario) -> tuple[str, ...]:
    """Every router the scenario supports (the embedding router needs theme embeddings)."""
    return tuple(
        name
        for name, spec in ROUTERS.items()
        if scenario.theme_embeddings is not None or not spec.needs_theme_embeddings
    )


def make_router(name: str, scenario: Scenario, *, seed: int) -> BaseRouter:
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
