"""Every bad input of `lrpo serve`: a clear 4xx (or a clean close), and the server goes on.

Bad config files, bad request bodies and labels, oversize and stalled bodies, clients that hang
up, and a reward that fails on one request of a merged batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import ValidationError
from test_serve import FAST, LABEL, LengthScorer, _body, _server, served

from lrpo.cli import main
from lrpo.reward_server import ServeConfig, background_server, create_app
from lrpo.rewards import SemanticReward

__all__ = ["served"]  # the module-scoped server fixture of test_serve, used here too


# -------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("serve.toml", "port = 1", "must end in .yaml, .yml or .json"),
        ("serve.yaml", "port: [1", "not valid YAML"),
        ("serve.json", "{port: 1}", "not valid JSON"),
        ("serve.yaml", "- port\n", "must hold a mapping of settings, got list"),
        ("serve.yaml", "prot: 1\n", "prot"),
        ("serve.yaml", "reward:\n  gate:\n    mode: sometimes\n", "gate.mode"),
        ("serve.yaml", "max_items_per_request: 9000\n", "exceeds max_batch_items=4096"),
    ],
)
def test_bad_config_files_are_refused_with_the_problem(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        ServeConfig.from_file(path)


def test_cli_reports_a_bad_config_and_exits_2(tmp_path, capsys):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 70000\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--config", str(path)])
    assert exit_info.value.code == 2
    assert "port" in capsys.readouterr().err


# ------------------------------------------------------------------ protocol


@pytest.mark.parametrize("name", ["batch_wait_ms", "body_timeout_s"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_durations_are_refused_naming_the_field(name, value):
    with pytest.raises(ValidationError, match=f"{name}\n  Input should be a finite number"):
        ServeConfig(**{name: value})


# ------------------------------------------------------------------ requests
GOOD = _body(["Zweiundvierzig."])
UNKNOWN = json.dumps({"language": "xx", "reference": "42"})


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"query": ["a"', 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b"[1, 2]", 422, "body: Input should be an object"),
        ({"query": ["a"], "prompts": [""]}, 422, "labels: Field required"),
        ({**GOOD, "query": [42]}, 422, "query[0]: Input should be a valid string"),
        ({**GOOD, "prompts": "Q: "}, 422, "prompts: Input should be a valid array"),
        (
            {**GOOD, "labels": [{"language": "de"}]},
            422,
            "labels[0]: Input should be a valid string",
        ),
        ({**GOOD, "query": [None] * 7}, 422, "(and 2 more)"),
        ({**GOOD, "prompts": ["Q", "Q"]}, 422, "lengths {'query': 1, 'prompts': 2, 'labels': 1}"),
        ({**GOOD, "labels": ["Paris"]}, 422, "labels[0]: a label must be the packed JSON"),
        ({**_body(["a", "b"]), "labels": [LABEL, UNKNOWN]}, 422, "labels[1]: invalid packed label"),
        (_body(["x"] * 9), 413, "9 items exceed max_items_per_request=8"),
        (_body(["x" * 5000]), 413, "over max_body_bytes=4096"),
    ],
)
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
        sock.sendall(
            b"POST /get_reward HTTP/1.1\r\nHost: test\r\nConnection: close"
            b"\r\nContent-Length: 1000000000\r\n\r\n"
        )  # and not one byte of the body
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


DEEP = "[" * 5000 + "]" * 5000  # json.loads raises RecursionError on it


@pytest.fixture(scope="module")
def roomy():
    """A server with the default limits, for bodies over the small one's 4 KiB."""
    with _server(LengthScorer()) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([DEEP], "labels[0]: a label must be the packed JSON"),
        ([LABEL, '{"language": "en", "n": ' + "9" * 5000 + "}"], "labels[1]: a label must be"),
    ],
)
def test_a_label_whose_json_cannot_be_read_is_a_counted_422(roomy, labels, message):
    client = roomy
    before = client.get("/health").json()["errors"]
    body = {**_body(["x"] * len(labels)), "labels": labels}
    answer = client.post("/get_reward", json=body)
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]
    assert client.get("/health").json()["errors"] == before + 1
    assert client.post("/get_reward", json=GOOD).status_code == 200


def test_a_body_nested_too_deep_is_a_400(roomy):
    answer = roomy.post("/get_reward", content=b'{"query": ' + DEEP.encode() + b"}")
    assert answer.status_code == 400
    assert "recursion limit exceeded" in answer.json()["detail"]


def test_one_failing_request_of_a_merged_batch_fails_alone():
    scorer = LengthScorer()
    bodies = [_body(["boom" if i == 3 else "y" * (i + 1)]) for i in range(8)]

    async def send_all(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/get_reward", json=b) for b in bodies))

    with _server(scorer, batch_wait_ms=500.0) as url:
        answers = asyncio.run(send_all(url))
    assert any("boom" in call and len(call) > 1 for call in scorer.calls)  # it was merged
    assert [a.status_code for a in answers] == [500 if i == 3 else 200 for i in range(8)]
    assert "the embedder fell over" in answers[3].json()["detail"]
    for i, answer in enumerate(answers):
        if i != 3:
            assert answer.json()["rewards"] == pytest.approx([0.01 * (i + 1)])


# ------------------------------------------------------- stalled and gone clients
def _send_half(url: str, body: bytes) -> socket.socket:
    """A connection that sent its headers and half of its body, then stalls."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = b"POST /get_reward HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(body)
    sock.sendall(head + body[: len(body) // 2])
    return sock


def test_a_body_that_stalls_gets_408_and_its_connection_closed():
    body = json.dumps(_body(["Zweiundvierzig."])).encode()
    with _server(LengthScorer(), body_timeout_s=0.5) as url:
        stalled = [_send_half(url, body) for _ in range(20)]
        answers = []
        for sock in stalled:  # recv returns b"" once the server has closed the connection
            with sock:
                answers.append(b"".join(iter(lambda s=sock: s.recv(65536), b"")))
        health = httpx.get(url + "/health").json()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive within body_timeout_s=0.5" in answer
    assert (health["errors"], health["items"]) == (20, 0)


def test_a_client_that_hangs_up_mid_body_is_one_quiet_log_line():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    reward = SemanticReward(FAST, scorer=LengthScorer())
    app = create_app(ServeConfig(reward=FAST), reward=reward)
    body = json.dumps(_body(["Zweiundvierzig."])).encode()
    with background_server(app, log_level="info") as url:
        logging.getLogger("uvicorn").addHandler(handler)  # after uvicorn configured its logs
        try:
            for _ in range(3):
                _send_half(url, body).close()
            deadline = time.monotonic() + 30
            while httpx.get(url + "/health").json()["disconnects"] < 3:
                assert time.monotonic() < deadline, "the server never saw the clients go"
                time.sleep(0.05)
        finally:
            logging.getLogger("uvicorn").removeHandler(handler)
        assert httpx.post(url + "/get_reward", json=GOOD).status_code == 200
    assert [r.levelno for r in records] == [logging.INFO] * 3, [r.getMessage() for r in records]
    assert all("hung up before sending its whole request body" in r.getMessage() for r in records)
    assert not any(r.exc_info for r in records)
