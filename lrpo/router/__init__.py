"""Language routers: which language each rollout of a GRPO group answers in."""

from .base import BaseRouter
from .config import (
    NO_EXPLORATION,
    REFERENCE_THEMES,
    THOMPSON_DEFAULTS,
    DominantPolicy,
    EmaPolicy,
    FixedPolicy,
    MonolingualPolicy,
    Policy,
    RouterConfig,
    ThompsonPolicy,
    UniformPolicy,
)
from .context import RoutingContext
from .plan import RoutingPlan, RoutingProbabilities
from .routers import (
    ROUTERS,
    DominantLanguageRouter,
    FixedDistributionRouter,
    LanguageRouter,
    MonolingualRouter,
    ThompsonRouter,
    UniformRouter,
    make_router,
)
from .schedules import Schedule

__all__ = [
    "NO_EXPLORATION",
    "REFERENCE_THEMES",
    "ROUTERS",
    "THOMPSON_DEFAULTS",
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
