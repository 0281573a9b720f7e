"""OpenRLHF's reward file ``lrpo_reward.py``: lrpo's reward of each query, nothing routed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from test_openrlhf import (
    FILES,
    QUESTION,
    FakeEngine,
    chatml,
    execute_each,
    openrlhf_rollout,
    process_rollouts,
    tokenizer,
)

from lrpo.integrations.openrlhf import reward_func
from lrpo.integrations.plugin import CONFIG_ENV
from lrpo.labelled.labels import LabelError, pack_label
from lrpo.labelled.scoring import response_from_query

__all__ = ["openrlhf_rollout", "process_rollouts", "tokenizer"]  # fixtures of test_openrlhf


def test_reward_file_through_openrlhfs_single_turn_executor(
    openrlhf_rollout, process_rollouts, tokenizer
):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(str(FILES / "lrpo_reward.py"))  # loads reward_func by path
    prompt = chatml(QUESTION, "de")
    labels = [
        pack_label(language="de", reference="ref"),
        pack_label(language="de", reference="ref", requested="sw"),
    ]

    outputs = asyncio.run(execute_each(executor, prompt, labels, tokenizer, FakeEngine(tokenizer)))
    # The engine answers in German: right for the German request, gated for the Swahili one.
    experience = openrlhf_rollout.experiences(outputs)
    assert experience.rewards.tolist() == [1.0, 0.0]
    assert experience.info["lrpo/gate"].tolist() == [1.0, 0.0]
    client = process_rollouts.client
    assert client.assigned == [] and client.reported == []  # rewards only: nothing routed


def test_reward_func_protocol_and_bad_labels(process_rollouts, caplog):
    prompt = chatml(QUESTION, "de")
    answer = reward_func(
        [prompt + "de:good<|im_end|>", prompt + "en:good"],
        [prompt, prompt],
        [pack_label(language="de", reference="ref")] * 2,
    )
    assert set(answer) == {"rewards", "scores", "extra_logs"}
    assert answer["rewards"].tolist() == answer["scores"].tolist() == [1.0, 0.0]
    assert all(v.shape == (2,) for v in answer["extra_logs"].values())
    with caplog.at_level(logging.ERROR), pytest.raises(LabelError, match="prepare_data"):
        reward_func([prompt], [prompt], ["Paris"])
    assert "prepare_data.py" in caplog.text


def test_reward_file_without_a_config_fails_when_the_engine_loads_it(openrlhf_rollout, monkeypatch):
    """Not at the first reward, which OpenRLHF would catch and log at INFO level."""
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=f"set {CONFIG_ENV}="):
        SingleTurnAgentExecutor([str(FILES / "lrpo_reward.py")])


@pytest.mark.parametrize(
    ("query", "prompt", "response"),
    [
        ("Q? A.<|im_end|>", "Q? ", "A."),
        ("Q? A.</s>", "Q? ", "A."),
        ("Q? A.<|eot_id|>\n", "Q? ", "A."),
        ("A.", "not a prefix", "A."),
    ],
)
def test_response_from_query(query, prompt, response):
    assert response_from_query(query, prompt) == response
