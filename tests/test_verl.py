"""lrpo's verl 0.9 integration, run through verl's own agent-loop and reward-loop workers on CPU.

No GPU, model or vLLM: a stand-in LLM server answers ``"<lang>:good"`` in the language its prompt
asks for (the directive tag, else German, the prompts' language). Everything in between is real:
verl's ``AgentLoopWorker.generate_sequences`` (batching, Hydra instantiation of the agent loop
from ``lrpo_agent.yaml``, chat templating, padding, reward streaming) and its
``RewardLoopWorker`` (``lrpo_reward.py`` loaded by path, the naive reward manager merging
``extra_fields`` into ``extra_info``). Ray's hop is a pickle round trip.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import pickle
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import hydra
import numpy as np
import pytest
import torch
import verl
from omegaconf import OmegaConf
from test_plugin import SETTINGS, angle_reward
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker, _agent_loop_registry
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
from verl.protocol import DataProto
from verl.workers.rollout.replica import TokenOutput

from lrpo.integrations import verl as lrpo_verl
from lrpo.integrations.plugin import PluginConfig, RoutedRollouts
from lrpo.integrations.trl.tiny import tiny_tokenizer
from lrpo.labelled.labels import LabelError, pack_label, unpack_label
from lrpo.router_service import GroupMismatchError, RouterServiceUnavailable, connect

VERL_DIR = Path(__file__).resolve().parents[1] / "recipes" / "verl"
VERL_CONFIG = Path(verl.__file__).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml"
K = 4
LABEL = pack_label(language="de", theme="Reasoning / Logic", reference="ref")
BREAKDOWN = {
    "score",
    *(f"lrpo/{key}" for key in ("similarity", "calibrated", "gate", "guarded", "routed")),
}
_TAG = re.compile(r"<\|out_lang_(\w+)\|>")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny tokenizer and model config on disk: what verl's workers load from model.path."""
    from transformers import Qwen2Config

    path = tmp_path_factory.mktemp("tiny-model")
    tokenizer = tiny_tokenizer()
    tokenizer.save_pretrained(path)
    Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        architectures=["Qwen2ForCausalLM"],
    ).save_pretrained(path)
    return path


@pytest.fixture
def trainer_config(model_dir):
    """verl's full default trainer config with the overrides of the README's launch command."""
    config = OmegaConf.load(VERL_CONFIG)
    rollout = config.actor_rollout_ref.rollout
    rollout.name, rollout.n, rollout.prompt_length, rollout.response_length = "vllm", K, 256, 16
    rollout.agent.agent_loop_config_path = str(VERL_DIR / "lrpo_agent.yaml")
    config.actor_rollout_ref.model.path = str(model_dir)
    config.reward.custom_reward_function.path = str(VERL_DIR / "lrpo_reward.py")
    return config


@pytest.fixture
def routed(request, monkeypatch) -> RoutedRollouts:
    """The process's RoutedRollouts, with a hand-set reward; ``routed.paths`` the configs asked."""
    config = PluginConfig.model_validate(
        {
            **SETTINGS,
            "service": {"name": f"verl-{request.node.name}", "groups_per_step": 2},
        }
    )
    rollouts = RoutedRollouts(config, reward=angle_reward())
    rollouts.paths = []

    def for_process(cls, path=None):
        rollouts.paths.append(path)
        return rollouts

    monkeypatch.setattr(RoutedRollouts, "for_process", classmethod(for_process))
    return rollouts


def never_asked(routed: RoutedRollouts) -> bool:
    """Whether no router owner was ever started for ``routed``: nothing was asked nor told."""
    try:
        connect(routed.config.service)
    except RouterServiceUnavailable:
        return True
    return False


class EchoServer:
    """verl's LLM server client, stand-in: answers in the language the prompt asks for."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.prompts: list[str] = []

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kwargs) -> TokenOutput:
        text = self.tokenizer.decode(prompt_ids)
        self.prompts.append(text)
        tag = _TAG.search(text)
        return TokenOutput(token_ids=self.tokenizer.encode(f"{tag[1] if tag else 'de'}:good"))


def batch_of(uids: list[str], labels: list[str], *, validate: bool = False) -> DataProto:
    """What the trainer hands the agent loop: one row per prompt, repeated K times in a row."""
    n = len(uids)

    def column(values):
        array = np.empty(n, dtype=object)
        array[:] = values
        return array

    batch = DataProto.from_single_dict(
        {
            "dummy_tensor": torch.zeros(n, 1, dtype=torch.uint8),
            "raw_prompt": column([[{"role": "user", "content": f"Frage {u}?"}] for u in uids]),
            "reward_model": column([{"style": "lrpo", "ground_truth": g} for g in labels]),
            "extra_info": column([{"split": "train", "index": i} for i in range(n)]),
            "data_source": column(["test/de"] * n),
            "agent_name": column(["lrpo_agent"] * n),
            "uid": column(uids),
        }
    )
    batch = batch.repeat(repeat_times=K, interleave=True)
    batch.meta_info = {"global_steps": 1, "validate": validate}
    return batch


def generate(config, tokenizer, batch: DataProto) -> tuple[DataProto, EchoServer]:
    """``AgentLoopWorker.generate_sequences`` with rewards streamed to a ``RewardLoopWorker``."""
    server = EchoServer(tokenizer)

    async def run() -> DataProto:
        reward_worker = RewardLoopWorker(config)
        ray_hop = SimpleNamespace(  # a Ray actor call copies its argument
            remote=lambda data: reward_worker.compute_score(pickle.loads(pickle.dumps(data)))
        )
        worker = AgentLoopWorker(config, server, None, [SimpleNamespace(compute_score=ray_hop)])
        return await worker.generate_sequences(batch)

    return asyncio.run(run()), server


def load_script(name: str, monkeypatch) -> ModuleType:
    """Import ``recipes/verl/<name>.py`` under a name no other integration's script takes."""
    spec = importlib.util.spec_from_file_location(f"lrpo_verl_{name}", VERL_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# -------------------------------------------------------------------- the agent loop
def test_agent_loop_is_registered_and_importable_as_verl_imports_it(monkeypatch):
    target = "lrpo.integrations.verl.LRPOAgentLoop"
    assert _agent_loop_registry["lrpo_agent"] == {"_target_": target}
    (entry,) = OmegaConf.load(VERL_DIR / "lrpo_agent.yaml")
    assert (entry.name, entry._target_) == ("lrpo_agent", target)
    assert hydra.utils.get_class(target) is lrpo_verl.LRPOAgentLoop
    monkeypatch.syspath_prepend(str(VERL_DIR))  # the file form: the folder on PYTHONPATH
    assert hydra.utils.get_class("lrpo_agent_loop.LRPOAgentLoop") is lrpo_verl.LRPOAgentLoop


def test_training_batch_routes_each_uid_and_the_router_learns(trainer_config, routed, model_dir):
    tokenizer = tiny_tokenizer()
    out, server = generate(trainer_config, tokenizer, batch_of(["u0", "u1"], [LABEL] * 2))
    fields = out.non_tensor_batch
    router = routed.config.make_router()
    context = unpack_label(LABEL).context
    for g, uid in enumerate(["u0", "u1"]):
        rows = slice(g * K, (g + 1) * K)
        assert sorted(fields["lrpo_slot"][rows]) == list(range(K))
        (ticket,) = set(fields["lrpo_ticket"][rows])  # the service's routing key of the group
        assert ticket.startswith(uid)
        plan = router.route([context], keys=[ticket])
        by_slot = dict(zip(fields["lrpo_slot"][rows], fields["lrpo_language"][rows], strict=True))
        assert [by_slot[s] for s in range(K)] == plan.languages[0].tolist()
        assert by_slot[0] == "de"  # K_on = 1: slot 0 keeps the prompt's language
    # each prompt asks for its rollout's language (none when it is the prompt's own)
    asked = [m[1] if (m := _TAG.search(p)) else "de" for p in server.prompts]
    assert sorted(asked) == sorted(fields["lrpo_language"])
    routed_rows = fields["lrpo_language"] != "de"
    assert routed_rows.any() and not routed_rows.all()
    assert sum("<|out_lang_" in p for p in server.prompts) == routed_rows.sum()
    # every rollout answered in its language: reward 1, logged with the same keys everywhere
    np.testing.assert_allclose(out.batch["rm_scores"].sum(-1), 1.0)
    assert set(out.meta_info["reward_extra_keys"]) >= BREAKDOWN
    np.testing.assert_array_equal(fields["lrpo/routed"], routed_rows.astype(float))
    # groups_per_step = 2 complete groups: one router step, all 2 K rewards reported
    metrics = routed.client.service.metric_sums().metrics()
    assert metrics["router/step"] == 1 and metrics["router/service/rewards"] == 2 * K
    assert routed.paths and set(routed.paths) == {None}  # $LRPO_CONFIG in the workers


def test_validation_rows_keep_the_prompt_language(trainer_config, routed):
    label = pack_label(language="de", reference="ref", route=False)
    out, server = generate(
        trainer_config, tiny_tokenizer(), batch_of(["v0"], [label], validate=True)
    )
    assert set(out.non_tensor_batch["lrpo_language"]) == {"de"}
    assert not any("<|out_lang_" in p for p in server.prompts)
    np.testing.assert_allclose(out.batch["rm_scores"].sum(-1), 1.0)
    assert never_asked(routed)


def test_the_k_of_a_group_must_be_the_router_k(trainer_config, routed):
    trainer_config.actor_rollout_ref.rollout.n = K - 1
    with pytest.raises(GroupMismatchError, match=f"K={K - 1} rollouts but its plan has K={K}"):
        generate(trainer_config, tiny_tokenizer(), batch_of(["u0"], [LABEL]))


def test_route_sample_rewrites_a_copy_and_keys_groups_by_uid(routed):
    kwargs = {
        "raw_prompt": np.array([{"role": "user", "content": "Frage?"}], dtype=object),
        "reward_model": {"ground_truth": LABEL},
        "uid": "u9",
    }

    async def one_group():
        return [await lrpo_verl.route_sample(routed, kwargs, K) for _ in range(K)]

    results = asyncio.run(one_group())
    assert [a.slot for _, a in results] == list(range(K))
    for new, a in results:
        content = new["raw_prompt"][-1]["content"]
        assert content == ("Frage?" + (f"\n<|out_lang_{a.language}|>" if a.routed else ""))
    assert kwargs["raw_prompt"][0]["content"] == "Frage?"  # the K rollouts share the original


# ------------------------------------------------------------------- compute_score
def test_compute_score_scores_and_reports_the_assigned_language(routed):
    async def one_group():
        label = unpack_label(LABEL)
        assignments = [await routed.assign("q", label, K) for _ in range(K)]
        results = []
        for a in assignments:
            extra_info = {
                "raw_prompt": [{"role": "user", "content": "Frage?"}],
                **lrpo_verl.assignment_fields(a),
            }
            results.append(
                await lrpo_verl.compute_score(
                    "test/de", f"{a.language}:good", LABEL, extra_info, lrpo_config="/x.yaml"
                )
            )
        return assignments, results

    assignments, results = asyncio.run(one_group())
    for a, result in zip(assignments, results, strict=True):
        assert set(result) == BREAKDOWN and all(type(v) is float for v in result.values())
        assert result["score"] == 1.0 and result["lrpo/routed"] == float(a.routed)
    assert routed.client.service.metric_sums().metrics()["router/service/rewards"] == K
    assert set(routed.paths) == {"/x.yaml"}  # reward_kwargs reach RoutedRollouts.for_process


def test_rows_without_the_agent_loop_are_scored_in_their_language(routed, caplog):
    extra_info = {"lrpo_label": LABEL}  # the label may travel in extra_info instead
    with caplog.at_level(logging.WARNING, logger="lrpo.integrations.verl"):
        lrpo_verl._warn_unassigned.cache_clear()
        de = asyncio.run(lrpo_verl.compute_score("test/de", "de:good", "42", extra_info))
        sw = asyncio.run(lrpo_verl.compute_score("test/de", "sw:good", "42", extra_info))
    assert (de["score"], sw["score"], de["lrpo/routed"]) == (1.0, 0.0, 0.0)
    assert set(de) == set(sw) == BREAKDOWN
    assert never_asked(routed)  # nothing reported
    assert len([r for r in caplog.records if "no router assignment" in r.message]) == 1


@pytest.mark.parametrize(
    ("ground_truth", "extra_info", "error", "message"),
    [
        ("Paris", {}, LabelError, r"reward_model\.ground_truth: a label must be the packed JSON"),
        (None, {}, LabelError, r"reward_model\.ground_truth: .*got NoneType"),
        (
            LABEL,
            {"lrpo_label": '{"language": "xx"}'},
            LabelError,
            r"extra_info\['lrpo_label'\]: invalid packed label \(language",
        ),
        (LABEL, {"lrpo_language": "de", "lrpo_slot": 1}, ValueError, "lacks.*lrpo_ticket"),
    ],
)
def test_bad_rows_name_the_field_and_the_fix(routed, ground_truth, extra_info, error, message):
    with pytest.raises(error, match=message):
        asyncio.run(lrpo_verl.compute_score("test/de", "de:good", ground_truth, extra_info))
    kwargs = {
        "raw_prompt": [{"role": "user", "content": "?"}],
        "extra_info": extra_info,
        "reward_model": {"ground_truth": ground_truth},
    }
    if error is LabelError:
        with pytest.raises(LabelError, match=message):
            asyncio.run(lrpo_verl.route_sample(routed, kwargs, K))
