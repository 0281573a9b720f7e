"""Simulated routing environments: study a language router before spending GPU hours.

A :class:`Scenario` describes prompts, the true quality of each answer language and the bias
of raw rewards; :func:`simulate` runs routers side by side under raw and calibrated rewards.
Plots live in :mod:`lrpo.sim.plots` (needs matplotlib).

Examples
--------
>>> from lrpo.sim import default_scenario, simulate
>>> results = simulate(default_scenario(), ["ema", "monolingual"], steps=3, batch_size=8,
...                    progress=False)
>>> sorted(results["runs"])
['calibrated', 'raw']
"""

from .environment import Condition, PromptBatch, RoutingEnvironment
from .metrics import CURVE_NAMES, MetricsLog, StepMetrics, step_metrics
from .presets import default_scenario, fine_grained_scenario
from .report import format_table, summary_rows
from .routers import ROUTERS, build_router, default_router_names, router_config
from .runner import CONDITIONS, simulate
from .scenario import Scenario

__all__ = [
    "CONDITIONS",
    "CURVE_NAMES",
    "ROUTERS",
    "Condition",
    "MetricsLog",
    "PromptBatch",
    "RoutingEnvironment",
    "Scenario",
    "StepMetrics",
    "build_router",
    "default_router_names",
    "default_scenario",
    "fine_grained_scenario",
    "format_table",
    "router_config",
    "simulate",
    "step_metrics",
    "summary_rows",
]
