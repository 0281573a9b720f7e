"""`make_router`: the router a `RouterConfig` names, for every caller (plugins, simulator, CLI)."""

from __future__ import annotations

from .base import BaseRouter
from .baselines import (
    DominantLanguageRouter,
    FixedDistributionRouter,
    MonolingualRouter,
    UniformRouter,
)
from .config import RouterConfig
from .ema import LanguageRouter
from .thompson import ThompsonRouter

__all__ = ["ROUTERS", "make_router"]

#: The router class of each policy kind: one name per router everywhere.
ROUTERS: dict[str, type[BaseRouter]] = {
    "ema": LanguageRouter,
    "thompson": ThompsonRouter,
    "dominant": DominantLanguageRouter,
    "fixed": FixedDistributionRouter,
    "uniform": UniformRouter,
    "monolingual": MonolingualRouter,
}


def make_router(config: RouterConfig | None = None) -> BaseRouter:
    """The router of ``config.policy.kind``, configured by ``config``.

    Parameters
    ----------
    config : RouterConfig, optional
        Default: ``RouterConfig()``, the LRPO reference router.

    Returns
    -------
    BaseRouter
        A new router at step 0.

    Examples
    --------
    >>> router = make_router(RouterConfig(policy={"kind": "thompson", "discount": 0.9}))
    >>> type(router).__name__, router.policy.discount
    ('ThompsonRouter', 0.9)
    """
    config = RouterConfig() if config is None else config
    return ROUTERS[config.policy.kind](config)
