"""Unsloth's GRPO trainer: its class-level wrappers hide TRL's signatures, not TRL's behaviour.

Unsloth copies TRL's ``GRPOTrainer`` into ``_UnslothGRPOTrainer``, subclasses it, and wraps
``_generate_and_score_completions`` on the class with a plain ``(*args, **kwargs)`` function
(no ``functools.wraps``). The trainers here are built the same way on the installed TRL.
"""

from __future__ import annotations

import pytest

trl = pytest.importorskip("trl")

from _trl_setup import Recorder, add_router, capture_records, make_router, make_trainer  # noqa: E402

from lrpo.integrations.trl import LanguageRouterCallback  # noqa: E402


def _plain_wrapper(method):
    def wrapper(*args, **kwargs):
        return method(*args, **kwargs)

    return wrapper


def unsloth_like_trainer_class() -> type:
    """``UnslothGRPOTrainer(_UnslothGRPOTrainer)``, its generation wrapped on the class."""
    copy = type("_UnslothGRPOTrainer", (trl.GRPOTrainer,), {})
    wrapped = _plain_wrapper(copy._generate_and_score_completions)
    return type("UnslothGRPOTrainer", (copy,), {"_generate_and_score_completions": wrapped})


def test_a_trainer_wrapped_the_unsloth_way_routes_and_learns(tmp_path):
    trainer = make_trainer(tmp_path, trainer_class=unsloth_like_trainer_class())
    router = make_router()
    records = capture_records(router)
    add_router(trainer, router)
    trainer.train()
    assert len(records) == 2  # one recorded plan per step, as with TRL's own class
    plan, rewards = records[-1]
    assert rewards.shape == plan.languages.shape
    assert router.metric_sums().metrics()["router/step"] == 2


def test_a_signature_hidden_all_the_way_up_names_the_wrapping_class(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, reward=Recorder())
    hidden = _plain_wrapper(trl.GRPOTrainer._calculate_rewards)
    monkeypatch.setattr(trl.GRPOTrainer, "_calculate_rewards", hidden)
    with pytest.raises(RuntimeError, match=r"GRPOTrainer\._calculate_rewards takes only"):
        LanguageRouterCallback(trainer, make_router())
