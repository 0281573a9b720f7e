"""``lrpo serve`` with WALAR's reward: the config's choice, hand-computed rewards and ``walar/*``
logs over HTTP, OpenRLHF's remote-reward agent against it (the recipe's path), bad input, and a
config file that loads the tiny MetricX and encoder from disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml
from _walar_setup import (
    ENGLISH_HYPOTHESIS,
    F1,
    SOURCE,
    FixedQE,
    lookup_aligner,
    saved_walar_models,
    walar_reward,
)
from test_alignment import GATE, GERMAN
from test_openrlhf import FILES, FakeEngine, chatml, execute_each, openrlhf_rollout, tokenizer

from lrpo.integrations.openrlhf import REWARD_URL_ENV, RemoteRewardExecutor
from lrpo.labelled.labels import pack_label
from lrpo.reward_server import ServeConfig, background_server, create_app
from lrpo.rewards import WALAR_REASONS, SemanticRewardConfig, WalarRewardConfig

__all__ = ["openrlhf_rollout", "tokenizer"]  # fixtures of test_openrlhf

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "walar"
WALAR = {"kind": "walar", "gate": GATE}
QE = 3.0
SCORED = -QE + 20 * F1  # WALAR's reward of ENGLISH_HYPOTHESIS for SOURCE
WALAR_LOGS = {"walar/qe", "walar/f1", "walar/gate", *(f"walar/{r}_rate" for r in WALAR_REASONS)}
PROMPT = chatml(f"Translate into English: {SOURCE}", "de")
ENGLISH = pack_label(language="en", reference=SOURCE, reference_language="de", route=False)


def _body(responses: list[str], labels: list[str]) -> dict[str, list[str]]:
    return {"query": [PROMPT + r for r in responses], "prompts": [PROMPT] * len(responses),
            "labels": labels}  # fmt: skip


@pytest.fixture(scope="module")
def walar_server():
    """``lrpo serve`` on loopback scoring WALAR's reward (QE 3 for ENGLISH_HYPOTHESIS, else 5);
    yields its base URL and the QE stub."""
    qe = FixedQE({ENGLISH_HYPOTHESIS: QE})
    reward = walar_reward(lookup_aligner(), qe)
    app = create_app(ServeConfig(reward=WALAR, batch_wait_ms=0.0), reward=reward)
    with background_server(app) as url:
        yield url, qe


# -------------------------------------------------------------------- config
def test_serve_configs_choose_the_reward_by_kind(tmp_path):
    assert ServeConfig().reward == SemanticRewardConfig()  # no kind: the semantic reward
    path = tmp_path / "serve.yaml"
    path.write_text("reward:\n  kind: semantic\n  calibration: none\n  pair_key: requested\n")
    assert ServeConfig.from_file(path).reward == SemanticRewardConfig(
        calibration="none", pair_key="requested"
    )
    path.write_text("reward:\n  kind: walar\n  alpha: 5\n")
    config = ServeConfig.from_file(path)
    assert isinstance(config.reward, WalarRewardConfig) and config.reward.alpha == 5.0
    json_file = tmp_path / "serve.json"
    json_file.write_text(config.model_dump_json())
    assert ServeConfig.from_file(json_file) == config
    path.write_text("reward:\n  kind: comet\n")
    with pytest.raises(ValueError, match="kind is one of"):
        ServeConfig.from_file(path)


def test_the_recipes_serve_config_is_walars_setup():
    config = ServeConfig.from_file(RECIPE / "serve.yaml")
    reward = config.reward
    assert isinstance(reward, WalarRewardConfig)
    assert (reward.qe_model, reward.qe_tokenizer) == (
        "google/metricx-24-hybrid-large-v2p6",
        "google/mt5-xl",
    )
    assert (reward.alignment.encoder, reward.alignment.layer) == ("BAAI/bge-m3", 24)
    assert (reward.alpha, reward.gate.mismatch_reward) == (20.0, -25.0)
    assert config.host == "0.0.0.0"


# ------------------------------------------------------------------ protocol
def test_walar_rewards_and_their_parts_over_http(walar_server):
    url, qe = walar_server
    labels = [ENGLISH, ENGLISH, pack_label(language="en")]  # the last has no source
    answer = httpx.post(
        url + "/get_reward",
        json=_body([ENGLISH_HYPOTHESIS, GERMAN + "<|im_end|>", ENGLISH_HYPOTHESIS], labels),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    # In the target language: -QE + 20 F1; in German: -25; no source: 0, counted.
    assert result["rewards"] == pytest.approx([SCORED, -25.0, 0.0])
    assert result["scores"] == result["rewards"]
    logs = result["extra_logs"]
    assert set(logs) == WALAR_LOGS
    assert logs["walar/qe"] == [QE, 0.0, 0.0]
    assert logs["walar/f1"] == pytest.approx([F1, 0.0, 0.0])
    assert logs["walar/gate"] == [0.0, -25.0, 0.0]
    assert logs["walar/gated_rate"] == [0.0, 1.0, 0.0]
    assert logs["walar/no_source_rate"] == [0.0, 0.0, 1.0]
    assert qe.calls[-1] == (SOURCE, ENGLISH_HYPOTHESIS)  # the label's source, the bare answer


def test_the_target_language_is_the_labels_requested_one(walar_server):
    url, _ = walar_server
    german = pack_label(language="en", reference=SOURCE, requested="de")
    result = httpx.post(
        url + "/get_reward", json=_body([ENGLISH_HYPOTHESIS], [german]), timeout=30
    ).json()
    assert result["rewards"] == [-25.0]


@pytest.mark.parametrize(
    ("label", "status", "message"),
    [
        ('{"language": "en", "reference": 5}', 422, "reference"),
        ("Katzen und Hunde", 422, "packed JSON"),
        (pack_label(language="fr", reference=SOURCE), 500, "neither a candidate"),
    ],
)
def test_bad_items_get_an_answer_naming_the_problem(walar_server, label, status, message):
    url, _ = walar_server
    answer = httpx.post(url + "/get_reward", json=_body([ENGLISH_HYPOTHESIS], [label]), timeout=30)
    assert answer.status_code == status and message in answer.text
    health = httpx.get(url + "/health").json()  # the server goes on
    assert health["status"] == "ok"


def test_openrlhfs_remote_agent_gets_walar_rewards(
    walar_server, openrlhf_rollout, tokenizer, monkeypatch
):
    """The recipe's path: OpenRLHF loads lrpo_remote_agent.py, which asks lrpo serve."""

    class Translator(FakeEngine):
        def answer(self, prompt: str) -> str:
            return ENGLISH_HYPOTHESIS

    url, _ = walar_server
    monkeypatch.setenv(REWARD_URL_ENV, url + "/get_reward")
    executor = openrlhf_rollout.load_agent(str(FILES / "lrpo_remote_agent.py"))
    assert isinstance(executor, RemoteRewardExecutor)
    labels = [ENGLISH, pack_label(language="en", reference=SOURCE, requested="de")]
    outputs = asyncio.run(execute_each(executor, PROMPT, labels, tokenizer, Translator(tokenizer)))
    experience = openrlhf_rollout.experiences(outputs)
    assert experience.rewards.tolist() == pytest.approx([SCORED, -25.0])
    assert experience.info["walar/gated_rate"].tolist() == [0.0, 1.0]


# --------------------------------------------------------- models from a file
def test_a_config_file_naming_checkpoints_serves_metricx_and_the_aligner(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump({"reward": saved_walar_models(tmp_path), "batch_wait_ms": 0}))
    with background_server(create_app(ServeConfig.from_file(path))) as url:
        result = httpx.post(
            url + "/get_reward", json=_body([ENGLISH_HYPOTHESIS, GERMAN], [ENGLISH] * 2), timeout=60
        ).json()
    rewards, logs = result["rewards"], result["extra_logs"]
    assert logs["walar/scored_rate"] == [1.0, 0.0] and rewards[1] == -25.0
    assert 0 < logs["walar/qe"][0] < 25 and 0 <= logs["walar/f1"][0] <= 1
    assert rewards[0] == pytest.approx(-logs["walar/qe"][0] + 20 * logs["walar/f1"][0])
