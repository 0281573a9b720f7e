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
from .factory import ROUTERS, make_router
from .plan import RoutingPlan, RoutingProbabilities
from .policies import (
    DominantPolicy,
    EmaPolicy,
    FixedPolicy,
    MonolingualPolicy,
    Policy,
    ThompsonPolicy,
    UniformPolicy,
)
from .schedules import Schedule
from .thompson import ThompsonRouter

__all__ = [
    "REFERENCE_THEMES",
    "ROUTERS",
    "BaseRouter",
    "DominantLanguageRouter",
    "DominantPolicy",
    "EmaPolicy",
    "FixedDistributionRouter",
    "FixedPolicy",
    "LanguageRouter",
    "MonolingualPolicy",
    "MonolingualRouter",
    "Policy",
    "RouterConfig",
    "RoutingContext",
    "RoutingPlan",
    "RoutingProbabilities",
    "Schedule",
    "ThompsonPolicy",
    "ThompsonRouter",
    "UniformPolicy",
    "UniformRouter",
    "make_router",
]
