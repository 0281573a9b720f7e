"""The OpenRLHF integration, run through OpenRLHF's own executor and loaders with a fake engine.

vLLM is a GPU stack: where it is not installed, a stub stands in for the names OpenRLHF's
rollout modules import, so that the real ``_load_agent_executor`` and the real conversion of a
rollout into an ``Experience`` run here. The engine is a fake that answers in the language its
prompt asks for; the reward uses hand-set similarities and a fake language gate.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import re
import socket
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch
from test_semantic_reward import RAW, AngleEmbedder, FakeGate

from lrpo.integrations.openrlhf import (
    REWARD_URL_ENV,
    LanguageRoutedExecutor,
    RemoteRewardError,
    RemoteRewardExecutor,
    render_prompt,
    reward_func,
)
from lrpo.integrations.plugin import CONFIG_ENV, PluginConfig, RoutedRollouts, load_plugin_config
from lrpo.integrations.trl.tiny import tiny_tokenizer
from lrpo.labelled.labels import LabelError, pack_label, unpack_label
from lrpo.labelled.scoring import response_from_query
from lrpo.rewards import SemanticReward
from lrpo.router_service import (
    Assignment,
    LocalRouterClient,
    RayRouterClient,
    RouterService,
    RouterServiceUnavailable,
    ServiceConfig,
)

FILES = Path(__file__).resolve().parents[1] / "recipes" / "openrlhf"
K, K_ON = 4, 1
QUESTION = "Wie viel ist zwei plus drei?"
SETTINGS = {
    "router": {"languages": ["de", "en", "sw"], "num_rollouts": K, "num_on_policy": K_ON,
               "update_period": 1, "seed": 3},
    "service": {"groups_per_step": 2},
}  # fmt: skip


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def openrlhf_rollout():
    """OpenRLHF's engine-side agent loader and its conversion of rollouts into Experiences."""
    with pytest.MonkeyPatch.context() as patch:
        if importlib.util.find_spec("vllm") is None:
            vllm = ModuleType("vllm")
            vllm.__version__, vllm.SamplingParams = "0.0.0", SimpleNamespace
            vllm.inputs = ModuleType("vllm.inputs")
            vllm.inputs.TokensPrompt = dict
            vllm.utils = ModuleType("vllm.utils")
            vllm.utils.random_uuid = lambda: "request"
            for module in (vllm, vllm.inputs, vllm.utils):
                patch.setitem(sys.modules, module.__name__, module)
        from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator
        from openrlhf.trainer.ray.vllm_engine import _load_agent_executor

        generator = SamplesGenerator.__new__(SamplesGenerator)  # the conversion uses no state

        def experiences(outputs: list[dict]) -> SimpleNamespace:
            """Rewards and logged values of a batch, concatenated as the trainer does."""
            items = [generator._process_response_into_experience(o, max_len=256) for o in outputs]
            keys = set(items[0].info)
            assert all(set(item.info) == keys for item in items)  # else batching fails
            return SimpleNamespace(
                rewards=torch.cat([item.rewards for item in items]),
                scores=torch.cat([item.scores for item in items]),
                info={key: torch.cat([item.info[key] for item in items]) for key in keys},
            )

        yield SimpleNamespace(load_agent=_load_agent_executor, experiences=experiences)


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


class FakeEngine:
    """vLLM's part: answers ``"<lang>:good"`` in the language its prompt asks for (German by
    default), or always in German when disobedient; records the prompts it was given."""

    def __init__(self, tokenizer, obey: bool = True) -> None:
        self.tokenizer, self.obey = tokenizer, obey
        self.prompts: list[str] = []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        prompt = self.tokenizer.decode(prompt_token_ids)
        self.prompts.append(prompt)
        asked = re.search(r"<\|out_lang_(\w+)\|>", prompt)
        text = f"{asked[1] if asked and self.obey else 'de'}:good"
        await asyncio.sleep(0)  # let the other samples of the group run, as vLLM would
        ids = self.tokenizer(text=text, add_special_tokens=False)["input_ids"]
        output = SimpleNamespace(token_ids=[*ids, self.tokenizer.eos_token_id],
                                 text=text + self.tokenizer.eos_token, logprobs=None,
                                 finish_reason="stop")  # fmt: skip
        return SimpleNamespace(outputs=[output])


class RecordingClient(LocalRouterClient):
    """A client of an in-process service that keeps what it was given and told."""

    def __init__(self, service: RouterService) -> None:
        super().__init__(service)
        self.assigned: list[Assignment] = []
        self.reported: list[tuple[str, int, float]] = []

    async def assign(self, group, context, num_rollouts):
        assignment = await super().assign(group, context, num_rollouts)
        self.assigned.append(assignment)
        return assignment

    async def report(self, ticket, slot, reward):
        self.reported.append((ticket, slot, reward))
        return await super().report(ticket, slot, reward)


def fake_reward() -> SemanticReward:
    """Similarity 1 for every answer; the gate passes iff the answer starts '<requested>:'."""
    return SemanticReward({**RAW, "gate_mode": "hard", "pair_key": "requested"},
                          embedder=AngleEmbedder({}), gate=FakeGate())  # fmt: skip


def routed_rollouts(directive: str = "tag") -> RoutedRollouts:
    config = PluginConfig.model_validate({**SETTINGS, "directive": directive})
    service = RouterService(config.make_router(), **config.service.owner_settings())
    return RoutedRollouts(config, client=RecordingClient(service), reward=fake_reward())


def sampling() -> SimpleNamespace:
    """The fields of vLLM's SamplingParams that OpenRLHF's single-turn executor reads."""
    return SimpleNamespace(max_tokens=16, logprobs=None)


async def generate_group(executor, prompt, label, tokenizer, engine) -> list[dict]:
    """What OpenRLHF's RolloutRayActor.generate_responses does: K concurrent executions."""
    return await asyncio.gather(*(
        executor.execute(prompt=prompt, label=label, sampling_params=sampling(), max_length=256,
                         hf_tokenizer=tokenizer, llm_engine=engine, images=None)
        for _ in range(K)
    ))  # fmt: skip


def chatml(question: str, language: str) -> str:
    """The prompt the engine must see: the directive inside the user turn, templated."""
    tag = "" if language == "de" else f"\n<|out_lang_{language}|>"
    return f"<|im_start|>user\n{question}{tag}<|im_end|>\n<|im_start|>assistant\n"


# ----------------------------------------------------------------- agent executor
@pytest.mark.parametrize("form", ["plain", "messages", "templated"])
def test_samples_are_routed_rewritten_scored_and_reported(form, tokenizer, openrlhf_rollout):
    rollouts = routed_rollouts()
    client, engine = rollouts.client, FakeEngine(tokenizer)
    executor = LanguageRoutedExecutor(rollouts)
    questions = [QUESTION, "Wie spät ist es?"]
    labels = [pack_label(language="de", theme="Reasoning / Logic", reference="ref", group=f"q{i}")
              for i in range(2)]  # fmt: skip
    prompts = {
        "plain": questions,
        "messages": [[{"role": "user", "content": q}] for q in questions],
        "templated": [chatml(q, "de") for q in questions],
    }[form]

    async def batch():  # OpenRLHF dispatches the prompts of a batch concurrently too
        return await asyncio.gather(*(
            generate_group(executor, prompt, label, tokenizer, engine)
            for prompt, label in zip(prompts, labels, strict=True)
        ))  # fmt: skip

    groups = asyncio.run(batch())

    twin = rollouts.config.make_router()
    expected_prompts, plans = [], []
    for i, (question, label, outputs) in enumerate(zip(questions, labels, groups, strict=True)):
        context = unpack_label(label).context
        ticket = f"q{i}@0#0"  # the service's routing key: group @ router step # repeat
        plan = twin.route([context], keys=[ticket]).languages[0].tolist()
        mine = sorted((a for a in client.assigned if a.ticket == ticket), key=lambda a: a.slot)
        assert [a.slot for a in mine] == list(range(K))
        assert [a.language for a in mine] == plan
        assert plan[:K_ON] == ["de"] * K_ON
        plans += plan
        expected_prompts += [chatml(question, language) for language in plan]
        # An obedient engine answers in the requested language: every reward is 1.
        assert [o["reward"] for o in outputs] == [1.0] * K
        assert sorted(o["extra_logs"]["lrpo/routed"] for o in outputs) == sorted(
            float(language != "de") for language in plan)  # fmt: skip
        assert all(o["prompt"] == prompts[i] and o["label"] == label for o in outputs)
    assert sorted(engine.prompts) == sorted(expected_prompts)
    assert {"en", "sw"} <= set(plans)  # the seed routes some rollouts to each other language

    service = client.service
    assert sorted(slot for _, slot, _ in client.reported) == sorted(list(range(K)) * 2)
    assert service.counters["groups"] == 2 and service.counters["rewards"] == 2 * K
    assert service.router.step == 1  # groups_per_step = 2 groups make one router step

    experience = openrlhf_rollout.experiences([o for outputs in groups for o in outputs])
    assert experience.rewards.shape == experience.scores.shape == (2 * K,)
    shares = [f"lrpo/share/{code}" for code in ("de", "en", "sw")]
    for key in ["lrpo/similarity", "lrpo/calibrated", "lrpo/gate", "lrpo/routed", *shares]:
        assert experience.info[key].shape == (2 * K,), key
    assert torch.stack([experience.info[k] for k in shares]).sum(0).tolist() == [1.0] * (2 * K)


def test_rewards_reach_the_router_by_slot(tokenizer):
    """A disobedient engine answers in German: routed slots fail the gate, K_on slots pass."""
    rollouts = routed_rollouts()
    executor = LanguageRoutedExecutor(rollouts)
    label = pack_label(language="de", reference="ref", group="q")
    outputs = asyncio.run(generate_group(executor, QUESTION, label, tokenizer,
                                         FakeEngine(tokenizer, obey=False)))  # fmt: skip
    client = rollouts.client
    languages = {a.slot: a.language for a in client.assigned}
    assert {slot: reward for _, slot, reward in client.reported} == {
        slot: float(language == "de") for slot, language in languages.items()
    }
    assert sorted(o["reward"] for o in outputs) == sorted(r for *_, r in client.reported)
    assert {r for *_, r in client.reported} == {0.0, 1.0}
    assert client.service.router.step == 0  # one group of groups_per_step = 2


def test_unrouted_labels_keep_the_prompt_and_skip_the_router(tokenizer):
    rollouts = routed_rollouts()
    engine = FakeEngine(tokenizer)
    label = pack_label(language="de", reference="ref", route=False)
    outputs = asyncio.run(generate_group(LanguageRoutedExecutor(rollouts), QUESTION, label,
                                         tokenizer, engine))  # fmt: skip
    assert engine.prompts == [chatml(QUESTION, "de")] * K
    assert [o["reward"] for o in outputs] == [1.0] * K
    assert rollouts.client.assigned == [] and rollouts.client.reported == []


def test_render_prompt_styles_and_templates(tokenizer):
    rollouts = routed_rollouts("system")
    swahili = Assignment(ticket="q#0", slot=1, language="sw", prompt_language="de", step=0)
    assert render_prompt(QUESTION, swahili, rollouts, tokenizer) == (
        "<|im_start|>system\nYou are a helpful assistant. Answer in Swahili.<|im_end|>\n"
        f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
    )
    with pytest.raises(ValueError, match=r"drop --data\.apply_chat_template"):
        render_prompt(chatml(QUESTION, "de"), swahili, rollouts, tokenizer)
    plain = routed_rollouts("english")
    assert render_prompt(QUESTION, swahili, plain, None) == f"{QUESTION}\nAnswer in Swahili."
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        render_prompt([{"role": "user", "content": QUESTION}], swahili, plain, None)


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", r"label is empty.*--data\.label_key label"),  # OpenRLHF without --data.label_key
        ("Paris", r"must be the packed JSON.*prepare_data\.py"),
        ('{"language": "xx"}', r"language.*prepare_data\.py"),
        ('{"language": "de", "requested": "klingon"}', "requested"),
        ("[" * 5000 + "]" * 5000, r"must be the packed JSON"),  # nested too deep for json
        ('{"language": "de", "n": ' + "9" * 5000 + "}", r"must be the packed JSON"),
    ],
)
def test_bad_labels_fail_before_generation_naming_the_prep_script(label, message, tokenizer):
    engine = FakeEngine(tokenizer)
    with pytest.raises(LabelError, match=message):
        asyncio.run(generate_group(LanguageRoutedExecutor(routed_rollouts()), QUESTION, label,
                                   tokenizer, engine))  # fmt: skip
    assert engine.prompts == []


def test_the_agent_file_without_a_config_fails_at_engine_start(openrlhf_rollout, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=f"set {CONFIG_ENV}="):
        openrlhf_rollout.load_agent(str(FILES / "lrpo_agent.py"))


def test_an_unreachable_router_service_fails_fast(tokenizer):
    class Silent:
        """A Ray actor handle whose calls never complete."""

        def __getattr__(self, name):
            return SimpleNamespace(remote=lambda *args: asyncio.get_running_loop().create_future())

    silent = RayRouterClient(Silent(), ServiceConfig(backend="ray", timeout_s=0.05,
                                                     groups_per_step=1))  # fmt: skip
    rollouts = RoutedRollouts(PluginConfig.model_validate(SETTINGS), client=silent,
                              reward=fake_reward())  # fmt: skip
    executor, engine = LanguageRoutedExecutor(rollouts), FakeEngine(tokenizer)
    start = time.perf_counter()
    with pytest.raises(RouterServiceUnavailable, match=r"did not answer assign\w* within 0\.05 s"):
        asyncio.run(generate_group(executor, QUESTION, pack_label(language="de"), tokenizer,
                                   engine))  # fmt: skip
    assert time.perf_counter() - start < 5 and engine.prompts == []


# ------------------------------------------------------- the files OpenRLHF loads
@pytest.fixture
def process_rollouts(monkeypatch):
    """What ``RoutedRollouts.for_process()`` returns in the engine: here, a cheap one."""
    rollouts = routed_rollouts()
    monkeypatch.setattr(RoutedRollouts, "for_process", classmethod(lambda cls, path=None: rollouts))
    return rollouts


def test_agent_file_loads_as_openrlhf_loads_it(openrlhf_rollout, process_rollouts, tokenizer):
    executor = openrlhf_rollout.load_agent(str(FILES / "lrpo_agent.py"))
    assert isinstance(executor, LanguageRoutedExecutor)
    label = pack_label(language="de", reference="ref", group="q")
    outputs = asyncio.run(generate_group(executor, QUESTION, label, tokenizer,
                                         FakeEngine(tokenizer)))  # fmt: skip
    assert [o["reward"] for o in outputs] == [1.0] * K
    assert sorted(a.slot for a in process_rollouts.client.assigned) == list(range(K))


def test_reward_file_through_openrlhfs_single_turn_executor(openrlhf_rollout, process_rollouts,
                                                            tokenizer):  # fmt: skip
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(str(FILES / "lrpo_reward.py"))  # loads reward_func by path
    prompt = chatml(QUESTION, "de")
    labels = [pack_label(language="de", reference="ref"),
              pack_label(language="de", reference="ref", requested="sw")]  # fmt: skip

    async def score():
        return await asyncio.gather(*(
            executor.execute(prompt=prompt, label=label, sampling_params=sampling(),
                             max_length=256, hf_tokenizer=tokenizer,
                             llm_engine=FakeEngine(tokenizer), images=None)
            for label in labels
        ))  # fmt: skip

    outputs = asyncio.run(score())
    # The engine answers in German: right for the German request, gated for the Swahili one.
    experience = openrlhf_rollout.experiences(outputs)
    assert experience.rewards.tolist() == [1.0, 0.0]
    assert experience.info["lrpo/gate"].tolist() == [1.0, 0.0]
    client = process_rollouts.client
    assert client.assigned == [] and client.reported == []  # rewards only: nothing routed


def test_reward_func_protocol_and_bad_labels(process_rollouts, caplog):
    prompt = chatml(QUESTION, "de")
    answer = reward_func([prompt + "de:good<|im_end|>", prompt + "en:good"], [prompt, prompt],
                         [pack_label(language="de", reference="ref")] * 2)  # fmt: skip
    assert set(answer) == {"rewards", "scores", "extra_logs"}
    assert answer["rewards"].tolist() == answer["scores"].tolist() == [1.0, 0.0]
    assert all(v.shape == (2,) for v in answer["extra_logs"].values())
    with caplog.at_level(logging.ERROR), pytest.raises(LabelError, match="prepare_data"):
        reward_func([prompt], [prompt], ["Paris"])
    assert "prepare_data.py" in caplog.text


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


def test_example_config_is_valid():
    config = load_plugin_config(FILES / "lrpo.yaml")
    assert config.service.backend == "ray"
    assert config.router.num_rollouts == 8


# ------------------------------------------------------------------ data preparation
@pytest.fixture(scope="module")
def prepare_data():
    spec = importlib.util.spec_from_file_location("prepare_data", FILES / "prepare_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_prepare_data_packs_named_columns(prepare_data, tmp_path):
    rows = [
        {"query": "富士山は?", "lang": "ja", "topic": "Regional Knowledge", "area": "Japan",
         "chosen": "3776 m", "qid": 17},
        {"query": [{"role": "user", "content": "Hi"}], "lang": "sw", "chosen": "Habari"},
    ]  # fmt: skip
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = prepare_data.main([
        "--input", str(source), "--prompt-column", "query", "--language-column", "lang",
        "--theme-column", "topic", "--region-column", "area", "--reference-column", "chosen",
        "--id-column", "qid", "--theme", "Chat / Conversational",
        "--output", str(tmp_path / "out" / "train.jsonl"),
    ])  # fmt: skip
    records = read_jsonl(out)
    assert [r["prompt"] for r in records] == [row["query"] for row in rows]
    assert [r["datasource"] for r in records] == ["ja", "sw"]
    first, second = (unpack_label(r["label"]) for r in records)
    assert (first.language, first.themes, first.regions, first.reference, first.group) == (
        "ja", ("Regional Knowledge",), ("Japan",), "3776 m", "17")  # fmt: skip
    assert (second.themes, second.regions, second.group, second.route) == (
        ("Chat / Conversational",), (), "row-1", True)  # fmt: skip

    evaluation = prepare_data.main(["--input", str(source), "--prompt-column", "query",
                                    "--language-column", "lang", "--eval",
                                    "--output", str(tmp_path / "eval.jsonl")])  # fmt: skip
    assert [unpack_label(r["label"]).route for r in read_jsonl(evaluation)] == [False, False]


def test_prepare_data_rejects_bad_rows_by_number(prepare_data, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "a", "language": "de"},
                                                 {"prompt": "b", "language": "xx"}])  # fmt: skip
    out = tmp_path / "out.jsonl"
    with pytest.raises(LabelError, match="row 1: invalid packed label"):
        prepare_data.main(["--input", str(source), "--output", str(out)])
    assert not out.exists()  # nothing is written from a bad file
    write_jsonl(source, [{"prompt": "a"}])
    with pytest.raises(ValueError, match="row 0 has no language column 'language'"):
        prepare_data.main(["--input", str(source), "--output", str(out)])
    write_jsonl(source, [{"question": "a", "language": "de"}])
    with pytest.raises(ValueError, match="--prompt-column"):
        prepare_data.main(["--input", str(source), "--output", str(out)])


def test_prepare_data_tiny_is_offline_and_parallel(prepare_data, tmp_path):
    records = read_jsonl(prepare_data.main(["--tiny", "--output", str(tmp_path / "t.jsonl")]))
    labels = [unpack_label(r["label"]) for r in records]
    assert [label.language for label in labels] == ["de"] * 4 + ["ja"] * 4 + ["sw"] * 4
    assert all(label.reference and label.themes == ("Reasoning / Logic",) for label in labels)
    assert len({label.group for label in labels}) == 12
    # The same problems in every language (aligned by the GSM-symbolic item id).
    items = [label.group.split("-")[1] for label in labels]
    assert items[:4] == items[4:8] == items[8:]


# ------------------------------------------ rewards from lrpo serve, failing fast
@pytest.fixture(scope="module")
def reward_server():
    """``lrpo serve`` on loopback with the fake reward; yields its base URL."""
    from lrpo.reward_server import ServeConfig, background_server, create_app

    settings = {**RAW, "gate_mode": "hard", "pair_key": "requested"}
    app = create_app(ServeConfig(reward=settings, batch_wait_ms=0.0), reward=fake_reward())
    with background_server(app) as url:
        yield url


def remote_group(executor, label, tokenizer, engine) -> list[dict]:
    prompt = chatml(QUESTION, "de")  # HTTP mode: OpenRLHF may template the prompt itself
    return asyncio.run(asyncio.wait_for(generate_group(executor, prompt, label, tokenizer, engine),
                                        timeout=60))  # fmt: skip


def test_the_remote_agent_scores_at_the_server(reward_server, tokenizer, openrlhf_rollout):
    executor = RemoteRewardExecutor(reward_server + "/get_reward")
    labels = [pack_label(language="de", reference="ref"),
              pack_label(language="de", reference="ref", requested="sw")]  # fmt: skip

    async def score():
        return await asyncio.gather(*(
            executor.execute(prompt=chatml(QUESTION, "de"), label=label,
                             sampling_params=sampling(), max_length=256, hf_tokenizer=tokenizer,
                             llm_engine=FakeEngine(tokenizer), images=None)
            for label in labels
        ))  # fmt: skip

    outputs = asyncio.run(score())
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
        remote_group(executor, pack_label(language="de", reference="ref"), tokenizer,
                     FakeEngine(tokenizer))  # fmt: skip


def test_an_unreachable_server_fails_after_its_retries(tokenizer):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/get_reward"
    executor = RemoteRewardExecutor(url, retries=2, retry_wait_s=0.0)
    with pytest.raises(RemoteRewardError, match=r"failed 3 times.*ClientConnectorError"):
        remote_group(executor, pack_label(language="de", reference="ref"), tokenizer,
                     FakeEngine(tokenizer))  # fmt: skip


def test_the_remote_agent_file_loads_as_openrlhf_loads_it(openrlhf_rollout, reward_server,
                                                          monkeypatch, tokenizer):  # fmt: skip
    monkeypatch.delenv(REWARD_URL_ENV, raising=False)
    with pytest.raises(ValueError, match=f"set {REWARD_URL_ENV}=http://HOST:PORT/get_reward"):
        openrlhf_rollout.load_agent(str(FILES / "lrpo_remote_agent.py"))
    monkeypatch.setenv(REWARD_URL_ENV, reward_server + "/get_reward")
    executor = openrlhf_rollout.load_agent(str(FILES / "lrpo_remote_agent.py"))
    assert isinstance(executor, RemoteRewardExecutor)
    outputs = remote_group(executor, pack_label(language="de", reference="ref"), tokenizer,
                           FakeEngine(tokenizer))  # fmt: skip
    assert [o["reward"] for o in outputs] == [1.0] * K
