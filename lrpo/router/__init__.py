"""Language routers: which language each rollout of a GRPO group answers in."""

from .base import BaseRouter
from .baselines import (
    DominantLanguageRouter,
    FixedDistributionRouter,
    MonolingualRouter,
    UniformRouter,
)
from .config import REFERENCE_THEMES, RouterConfig
from .context import RoutingContext
from .ema import LanguageRouter
from .plan import RoutingPlan, RoutingProbabilities
from .schedules import Schedule
from .thompson import ThompsonRouter

__all__ = [
    "REFERENCE_THEMES",
    "BaseRouter",
    "DominantLanguageRouter",
    "FixedDistributionRouter",
    "LanguageRouter",
    "MonolingualRouter",
    "RouterConfig",
    "RoutingContext",
    "RoutingPlan",
    "RoutingProbabilities",
    "Schedule",
    "ThompsonRouter",
    "UniformRouter",
]
