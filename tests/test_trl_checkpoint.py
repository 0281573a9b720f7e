"""The router's state and heatmaps in TRL checkpoints; resuming routes as an uninterrupted run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _trl_setup import add_router, capture_records, make_dataset, make_router, make_trainer

from lrpo.integrations.trl import HEATMAP_NAMES, ROUTER_STATE_NAME

SETTINGS = {"max_steps": 4, "save_strategy": "steps", "save_steps": 2}


def routed_run(path, **train):
    """A 4-step run saving every 2 steps; its router and the (plan, rewards) it recorded."""
    router = make_router(update_period=2)
    trainer = make_trainer(path, **SETTINGS)
    add_router(trainer, router)
    records = capture_records(router)
    trainer.train(**train)
    return router, records


def test_resume_routes_as_an_uninterrupted_run(tmp_path):
    full_router, full_records = routed_run(tmp_path / "full")
    checkpoint = tmp_path / "full" / "checkpoint-2"
    assert (checkpoint / ROUTER_STATE_NAME).is_file()
    assert not list(checkpoint.glob("*.png"))  # heatmaps only with save_heatmaps=True

    resumed_router, resumed_records = routed_run(
        tmp_path / "resumed", resume_from_checkpoint=str(checkpoint)
    )
    assert len(full_records) == 4 and len(resumed_records) == 2
    for (a, ra), (b, rb) in zip(full_records[2:], resumed_records, strict=True):
        assert a.step == b.step and a.contexts == b.contexts
        assert (a.languages == b.languages).all()
        np.testing.assert_array_equal(ra, rb)
    assert json.dumps(full_router.state_dict()) == json.dumps(resumed_router.state_dict())


def test_resume_true_restores_the_last_checkpoint_of_the_output_dir(tmp_path):
    full_router, _ = routed_run(tmp_path)  # saves checkpoint-2 and checkpoint-4
    resumed_router, records = routed_run(tmp_path, resume_from_checkpoint=True)
    assert records == []  # resumed at the last step: nothing left to train
    assert json.dumps(resumed_router.state_dict()) == json.dumps(full_router.state_dict())
    os.remove(tmp_path / "checkpoint-4" / ROUTER_STATE_NAME)
    with pytest.raises(FileNotFoundError, match="checkpoint-4"):
        routed_run(tmp_path, resume_from_checkpoint=True)


def test_resuming_without_the_router_state_names_the_fix(tmp_path):
    routed_run(tmp_path / "full")
    checkpoint = tmp_path / "full" / "checkpoint-2"
    os.remove(checkpoint / ROUTER_STATE_NAME)
    with pytest.raises(FileNotFoundError, match="strict_resume=False"):
        routed_run(tmp_path / "again", resume_from_checkpoint=str(checkpoint))


def test_heatmaps_of_the_router_tables_are_saved_in_the_checkpoint(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    router = make_router()
    dataset = make_dataset(region=["Germany", "Japan", None])
    trainer = make_trainer(
        tmp_path, dataset=dataset, max_steps=1, save_strategy="steps", save_steps=1
    )
    add_router(trainer, router, save_heatmaps=True)
    trainer.train()
    assert sorted(router.region_table()[0]) == ["Germany", "Japan"]  # both tables have rows
    for name in HEATMAP_NAMES.values():
        path = tmp_path / "checkpoint-1" / name
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        pixels = image.imread(path)  # decodes: a real image with something drawn on it
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100 and pixels.std() > 0
