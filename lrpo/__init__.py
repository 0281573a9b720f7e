"""lrpo: language-routed policy optimisation as a plugin for GRPO trainers."""

from .router import (
    DominantLanguageRouter,
    FixedDistributionRouter,
    LanguageRouter,
    MonolingualRouter,
    RouterConfig,
    RoutingContext,
    RoutingPlan,
    Schedule,
    ThompsonRouter,
    UniformRouter,
    make_router,
)

__version__ = "0.1.0"

__all__ = [
    "DominantLanguageRouter",
    "FixedDistributionRouter",
    "LanguageRouter",
    "MonolingualRouter",
    "RouterConfig",
    "RoutingContext",
    "RoutingPlan",
    "Schedule",
    "ThompsonRouter",
    "UniformRouter",
    "__version__",
    "make_router",
]
