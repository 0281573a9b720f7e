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
import re
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch
from test_semantic_reward import RAW, AngleEmbedder, FakeGate

from lrpo.integrations.openrlhf import (
    LanguageRoutedExecutor,
    render_prompt,
)
from lrpo.integrations.plugin import CONFIG_ENV, PluginConfig, RoutedRollouts, load_plugin_config
from lrpo.integrations.trl.tiny import tiny_tokenizer
from lrpo.labelled.labels import LabelError, pack_label, unpack_label
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
    "router": {
        "languages": ["de", "en", "sw"],
        "num_rollouts": K,
        "num_on_policy": K_ON,
        "update_period": 1,
        "seed": 3,
    },
    # ray: the agent refuses a router per engine; tests hand it a client of their own
    "service": {"backend": "ray", "groups_per_step": 2},
}


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

    def answer_language(self, prompt: str) -> str:
        asked = re.search(r"<\|out_lang_(\w+)\|>", prompt)
        return asked[1] if asked and self.obey else "de"

    def answer(self, prompt: str) -> str:
        return f"{self.answer_language(prompt)}:good"

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        prompt = self.tokenizer.decode(prompt_token_ids)
        self.prompts.append(prompt)
        text = self.answer(prompt)
        await asyncio.sleep(0)  # let the other samples of the group run, as vLLM would
        ids = self.tokenizer(text=text, add_special_tokens=False)["input_ids"]
        output = SimpleNamespace(
            token_ids=[*ids, self.tokenizer.eos_token_id],
            text=text + self.tokenizer.eos_token,
            logprobs=None,
            finish_reason="stop",
        )
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

    async def report(self, assignment, reward):
        self.reported.append((assignment.ticket, assignment.slot, reward))
        return await super().report(assignment, reward)


def fake_reward() -> SemanticReward:
    """Similarity 1 for every answer; the gate passes iff the answer starts '<requested>:'."""
    return SemanticReward(
        {**RAW, "gate": {"mode": "hard"}},
        embedder=AngleEmbedder({}),
        gate=FakeGate(),
    )


def routed_rollouts(directive: str = "tag") -> RoutedRollouts:
    config = PluginConfig.model_validate({**SETTINGS, "directive": directive})
    service = RouterService(config.make_router(), **config.service.owner_settings())
    return RoutedRollouts(config, client=RecordingClient(service), reward=fake_reward())


def sampling() -> SimpleNamespace:
    """The fields of vLLM's SamplingParams that OpenRLHF's single-turn executor reads."""
    return SimpleNamespace(max_tokens=16, logprobs=None)


async def execute_each(executor, prompt, labels, tokenizer, engine) -> list[dict]:
    """One execution per label, all at once and with one sampling-params object, as OpenRLHF's
    engines run the samples of a prompt."""
    params = sampling()
    return await asyncio.gather(
        *(
            executor.execute(
                prompt=prompt,
                label=label,
                sampling_params=params,
                max_length=256,
                hf_tokenizer=tokenizer,
                llm_engine=engine,
                images=None,
            )
            for label in labels
        )
    )


async def generate_group(executor, prompt, label, tokenizer, engine) -> list[dict]:
    """What OpenRLHF's RolloutRayActor.generate_responses does: K concurrent executions."""
    return await execute_each(executor, prompt, [label] * K, tokenizer, engine)


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
    labels = [
        pack_label(language="de", theme="Reasoning / Logic", reference="ref", group=f"q{i}")
        for i in range(2)
    ]
    prompts = {
        "plain": questions,
        "messages": [[{"role": "user", "content": q}] for q in questions],
        "templated": [chatml(q, "de") for q in questions],
    }[form]

    async def batch():  # OpenRLHF dispatches the prompts of a batch concurrently too
        return await asyncio.gather(
            *(
                generate_group(executor, prompt, label, tokenizer, engine)
                for prompt, label in zip(prompts, labels, strict=True)
            )
        )

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
            float(language != "de") for language in plan
        )
        assert all(o["prompt"] == prompts[i] and o["label"] == label for o in outputs)
    assert sorted(engine.prompts) == sorted(expected_prompts)
    assert {"en", "sw"} <= set(plans)  # the seed routes some rollouts to each other language

    service = client.service
    assert sorted(slot for _, slot, _ in client.reported) == sorted(list(range(K)) * 2)
    metrics = service.metric_sums().metrics()
    assert metrics["router/service/groups"] == 2 and metrics["router/service/rewards"] == 2 * K
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
    outputs = asyncio.run(
        generate_group(executor, QUESTION, label, tokenizer, FakeEngine(tokenizer, obey=False))
    )
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
    outputs = asyncio.run(
        generate_group(LanguageRoutedExecutor(rollouts), QUESTION, label, tokenizer, engine)
    )
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
        asyncio.run(
            generate_group(
                LanguageRoutedExecutor(routed_rollouts()), QUESTION, label, tokenizer, engine
            )
        )
    assert engine.prompts == []


def test_the_agent_file_without_a_config_fails_at_engine_start(openrlhf_rollout, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=f"set {CONFIG_ENV}="):
        openrlhf_rollout.load_agent(str(FILES / "lrpo_agent.py"))


def test_a_router_per_engine_is_refused_at_engine_start(openrlhf_rollout, monkeypatch, tmp_path):
    config = tmp_path / "lrpo.yaml"
    config.write_text(json.dumps({**SETTINGS, "service": {"groups_per_step": 2}}))  # local
    monkeypatch.setenv(CONFIG_ENV, str(config))
    built = classmethod(lambda cls, path=None: cls(load_plugin_config(path)))  # uncached
    monkeypatch.setattr(RoutedRollouts, "for_process", built)
    with pytest.raises(ValueError, match=r"service\.backend is 'local'.*service\.backend: ray"):
        openrlhf_rollout.load_agent(str(FILES / "lrpo_agent.py"))


def test_an_unreachable_router_service_fails_fast(tokenizer):
    class Silent:
        """A Ray actor handle whose calls never complete."""

        def __getattr__(self, name):
            return SimpleNamespace(remote=lambda *args: asyncio.get_running_loop().create_future())

    silent = RayRouterClient(
        Silent(), ServiceConfig(backend="ray", timeout_s=0.05, groups_per_step=1)
    )
    rollouts = RoutedRollouts(
        PluginConfig.model_validate(SETTINGS), client=silent, reward=fake_reward()
    )
    executor, engine = LanguageRoutedExecutor(rollouts), FakeEngine(tokenizer)
    start = time.perf_counter()
    with pytest.raises(RouterServiceUnavailable, match=r"did not answer open_many within 0\.05 s"):
        asyncio.run(
            generate_group(executor, QUESTION, pack_label(language="de"), tokenizer, engine)
        )
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
    outputs = asyncio.run(
        generate_group(executor, QUESTION, label, tokenizer, FakeEngine(tokenizer))
    )
    assert [o["reward"] for o in outputs] == [1.0] * K
    assert sorted(a.slot for a in process_rollouts.client.assigned) == list(range(K))


def test_example_config_is_valid():
    config = load_plugin_config(FILES / "lrpo.yaml")
    assert config.service.backend == "ray"
    assert config.router.num_rollouts == 8
