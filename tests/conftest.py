"""Shared fixtures: small router configs with hand-checkable numbers."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

from lrpo import RouterConfig, Schedule

# No test may reach a model or dataset hub: everything they load ships in a package or is built.
for _variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_variable, "1")

LANGS = ("en", "de", "ja")


@pytest.fixture
def small_config() -> RouterConfig:
    """Three languages, K = 4 with K_on = 1, constant tau = 1 and eps = 0, update every step."""
    return RouterConfig(
        languages=LANGS,
        themes=("General Knowledge", "Regional Knowledge", "Translation"),
        num_rollouts=4,
        num_on_policy=1,
        update_period=1,
        temperature=Schedule(kind="constant", start=1.0),
        epsilon=Schedule(kind="constant", start=0.0),
    )


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (the repository root is on ``sys.path`` for pytest)."""
    return importlib.import_module(f"benchmarks.{name}")


@pytest.fixture
def benchmark_module():
    """``benchmark_module("routing_throughput")`` imports that benchmark script."""
    return load_benchmark
