"""The remote-reward agent for OpenRLHF: rewards from ``lrpo serve``, the run stopped at the first
request that cannot succeed. OpenRLHF's own executor and loader run it with a fake engine."""

from __future__ import annotations

import asyncio
import socket

import pytest
from test_openrlhf import (
    FILES,
    QUESTION,
    FakeEngine,
    K,
    chatml,
    execute_each,
    fake_reward,
    generate_group,
    openrlhf_rollout,
    tokenizer,
)
from test_semantic_reward import RAW

from lrpo.integrations.openrlhf import REWARD_URL_ENV, RemoteRewardError, RemoteRewardExecutor
from lrpo.labelled.labels import LabelError, pack_label

__all__ = ["openrlhf_rollout", "tokenizer"]  # the fixtures of test_openrlhf, used here too


@pytest.fixture(scope="module")
def reward_server():
    """``lrpo serve`` on loopback with the fake reward; yields its base URL."""
    from lrpo.reward_server import ServeConfig, background_server, create_app

    settings = {**RAW, "gate": {"mode": "hard"}}
    app = create_app(ServeConfig(reward=settings, batch_wait_ms=0.0), reward=fake_reward())
    with background_server(app) as url:
        yield url


def remote_group(executor, label, tokenizer, engine) -> list[dict]:
    prompt = chatml(QUESTION, "de")  # HTTP mode: OpenRLHF may template the prompt itself
    return asyncio.run(
        asyncio.wait_for(generate_group(executor, prompt, label, tokenizer, engine), timeout=60)
    )


def test_the_remote_agent_scores_at_the_server(reward_server, tokenizer, openrlhf_rollout):
    executor = RemoteRewardExecutor(reward_server + "/get_reward")
    labels = [
        pack_label(language="de", reference="ref"),
        pack_label(language="de", reference="ref", requested="sw"),
    ]

    outputs = asyncio.run(
        execute_each(executor, chatml(QUESTION, "de"), labels, tokenizer, FakeEngine(tokenizer))
    )
    # The engine answers in German: right for the German request, gated for the Swahili one.
    experience = openrlhf_rollout.experiences(outputs)
    assert experience.rewards.tolist() == experience.scores.tolist() == [1.0, 0.0]
    assert experience.info["lrpo/gate"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", r"label is empty.*--data\.label_key label"),
        ("Paris", r"must be the packed JSON.*prepare_data\.py"),
        ('{"language": "xx"}', "language"),
    ],
)
def test_the_remote_agent_stops_at_a_bad_label_before_generating(label, message, tokenizer):
    engine = FakeEngine(tokenizer)
    executor = RemoteRewardExecutor("http://127.0.0.1:9/get_reward")  # never reached
    with pytest.raises(LabelError, match=message):
        remote_group(executor, label, tokenizer, engine)
    assert engine.prompts == []


def test_a_refused_request_stops_the_run_at_once(reward_server, tokenizer):
    """A 4xx will not succeed on retry: raised at the first answer (a wait of 10 minutes
    between attempts would trip the 60 s bound of remote_group)."""
    executor = RemoteRewardExecutor(reward_server + "/reward", retry_wait_s=600)  # wrong path
    with pytest.raises(RemoteRewardError, match=r"/reward refused a request \(404\).*get_reward"):
        remote_group(
            executor, pack_label(language="de", reference="ref"), tokenizer, FakeEngine(tokenizer)
        )


def test_an_unreachable_server_fails_after_its_retries(tokenizer):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/get_reward"
    executor = RemoteRewardExecutor(url, retries=2, retry_wait_s=0.0)
    with pytest.raises(RemoteRewardError, match=r"failed 3 times.*ClientConnectorError"):
        remote_group(
            executor, pack_label(language="de", reference="ref"), tokenizer, FakeEngine(tokenizer)
        )


def test_the_remote_agent_file_loads_as_openrlhf_loads_it(
    openrlhf_rollout, reward_server, monkeypatch, tokenizer
):
    monkeypatch.delenv(REWARD_URL_ENV, raising=False)
    with pytest.raises(ValueError, match=f"set {REWARD_URL_ENV}=http://HOST:PORT/get_reward"):
        openrlhf_rollout.load_agent(str(FILES / "lrpo_remote_agent.py"))
    monkeypatch.setenv(REWARD_URL_ENV, reward_server + "/get_reward")
    executor = openrlhf_rollout.load_agent(str(FILES / "lrpo_remote_agent.py"))
    assert isinstance(executor, RemoteRewardExecutor)
    outputs = remote_group(
        executor, pack_label(language="de", reference="ref"), tokenizer, FakeEngine(tokenizer)
    )
    assert [o["reward"] for o in outputs] == [1.0] * K
