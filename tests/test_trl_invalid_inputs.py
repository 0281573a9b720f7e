"""LanguageRouterCallback refuses a bad setup when it is built, with a message naming the fix."""

from __future__ import annotations

import sys

import pytest

trl = pytest.importorskip("trl")

from _trl_setup import (  # noqa: E402
    K,
    Recorder,
    add_router,
    make_dataset,
    make_router,
    make_trainer,
)

from lrpo.integrations.trl import LanguageRouterCallback  # noqa: E402

CASES = {
    "no_theme": (ValueError, r"lacks the column\(s\) \['theme'\]"),
    "no_language": (ValueError, r"lacks the column\(s\) \['language'\]"),
    "k_on_too_big": (ValueError, "num_on_policy=4 of num_generations=4"),
    "k_mismatch": (ValueError, "num_generations=4 but the router plans num_rollouts=8"),
    "eval_k_mismatch": (ValueError, "set GRPOConfig.num_generations_eval=4"),
    "trl_too_new": (RuntimeError, r"trl>=1.0,<1.17"),
    "trl_too_old": (RuntimeError, r"trl>=1.0,<1.17"),
    "private_method_changed": (RuntimeError, r"_calculate_rewards takes .* install trl"),
    "unknown_learn_from": (ValueError, r"\['semantic'\].*reward_func_names: \['recorder'\]"),
    "learn_from_a_string": (ValueError, "pass a list of reward function names"),
    "theme_embeddings_without_anchors": (ValueError, "theme_input='embeddings'"),
    "bad_directive": (ValueError, "directive"),
    "not_a_router": (TypeError, "must be an lrpo router"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_configuration_fails_when_the_callback_is_built(tmp_path, monkeypatch, case):
    error, match = CASES[case]
    router, dataset, options, args = make_router(), None, {}, {}
    if case == "no_theme":
        dataset = make_dataset(drop=("theme",))
    elif case == "no_language":
        dataset = make_dataset(drop=("language",))
    elif case == "k_on_too_big":
        router = make_router(num_on_policy=K)
    elif case == "k_mismatch":
        router = make_router(num_rollouts=8)
    elif case == "eval_k_mismatch":
        options, args = {"route_eval": True}, {"num_generations_eval": 2}
    elif case == "trl_too_new":
        monkeypatch.setattr(trl, "__version__", "1.17.0")
    elif case == "trl_too_old":
        monkeypatch.setattr(trl, "__version__", "0.29.0")
    elif case == "unknown_learn_from":
        options = {"learn_from": ["semantic"]}
    elif case == "learn_from_a_string":
        options = {"learn_from": "recorder"}
    elif case == "theme_embeddings_without_anchors":
        options = {"theme_embedding_column": "theme_embedding"}
    elif case == "bad_directive":
        options = {"directive": "shout"}
    elif case == "not_a_router":
        router = object()
    trainer = make_trainer(tmp_path, dataset=dataset, **args)
    if case == "private_method_changed":
        trainer._calculate_rewards = lambda inputs, prompts, completions: None
    with pytest.raises(error, match=match):
        LanguageRouterCallback(trainer, router, **options)
    assert "log" not in vars(trainer)  # checked before anything was wrapped


def test_heatmaps_without_matplotlib_name_the_extra(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were missing
    with pytest.raises(ImportError, match=r"pip install 'lrpo\[plot\]'"):
        LanguageRouterCallback(trainer, make_router(), save_heatmaps=True)


def test_one_callback_per_trainer(tmp_path):
    trainer = make_trainer(tmp_path)
    add_router(trainer, make_router())
    with pytest.raises(RuntimeError, match="one callback per trainer"):
        LanguageRouterCallback(trainer, make_router())


def test_training_with_a_callback_not_added_names_the_fix(tmp_path):
    trainer = make_trainer(tmp_path, reward=Recorder())
    LanguageRouterCallback(trainer, make_router())
    with pytest.raises(RuntimeError, match=r"trainer.add_callback\(callback\)"):
        trainer.train()
