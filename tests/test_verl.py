"""lrpo's verl 0.9 integration, run through verl's own agent-loop and reward-loop workers on CPU.

No GPU, model or vLLM: a stand-in LLM server answers ``"<lang>:good"`` in the language its prompt
asks for (the directive tag, else German, the prompts' language). Everything in between is real:
verl's agent-loop workers of both trainers (the legacy ``AgentLoopWorker.generate_sequences``
and the V1 trainer's ``AgentLoopWorkerTQ``, which writes each rollout to TransferQueue: batching,
Hydra instantiation of the agent loop from ``lrpo_agent.yaml``, chat templating, padding, reward
streaming) and its ``RewardLoopWorker`` with each registered reward manager (``lrpo_reward.py``
loaded by path). Emulated: Ray's hops (a pickle round trip), TransferQueue (an in-memory store)
and the ``remote`` manager's reward actor (in process); the V1 module is loaded from its file,
since the package it sits in needs ``torchdata``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import pickle
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace

import hydra
import numpy as np
import pytest
import ray
import torch
import verl
from omegaconf import OmegaConf
from test_plugin import SETTINGS, angle_reward
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker, _agent_loop_registry
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
from verl.experimental.reward_loop.reward_manager import remote as remote_manager
from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
from verl.protocol import DataProto
from verl.utils import tensordict_utils
from verl.workers.reward_manager.registry import REWARD_MANAGER_REGISTRY as LEGACY_MANAGERS
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
REWARD_MANAGERS = sorted(REWARD_MANAGER)
TRAINERS = ("legacy", "v1")
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
def trainer_config(model_dir, monkeypatch):
    """verl's full default trainer config with the overrides of the README's launch command."""
    config = OmegaConf.load(VERL_CONFIG)
    rollout = config.actor_rollout_ref.rollout
    rollout.name, rollout.n, rollout.prompt_length, rollout.response_length = "vllm", K, 256, 16
    rollout.agent.agent_loop_config_path = str(VERL_DIR / "lrpo_agent.yaml")
    config.actor_rollout_ref.model.path = str(model_dir)
    config.reward.custom_reward_function.path = str(VERL_DIR / "lrpo_reward.py")
    # the remote manager's reward actor, in process: Ray pickles the function and the calls
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(get_node_id=_node))
    monkeypatch.setattr(remote_manager, "RewardComputeWorker", LocalRewardActor)
    return config


def _node() -> str:
    return "ab" * 28


class LocalRewardActor:
    """verl's ``RewardComputeWorker`` Ray actor, stand-in: runs the function in process."""

    def __init__(self, compute_score_fn) -> None:
        self.compute_score_fn = pickle.loads(pickle.dumps(compute_score_fn))
        self.compute_score = SimpleNamespace(remote=self._call)

    @classmethod
    def options(cls, **_: object) -> type[LocalRewardActor]:
        return cls

    @classmethod
    def remote(cls, compute_score_fn) -> LocalRewardActor:
        return cls(compute_score_fn)

    async def _call(self, **kwargs):
        return self.compute_score_fn(**pickle.loads(pickle.dumps(kwargs)))


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


def prompt_rows(uids: list[str], labels: list[str], agent: str) -> dict[str, np.ndarray]:
    """What the trainer's dataloader gives the rollout: one row per prompt."""
    n = len(uids)

    def column(values):
        array = np.empty(n, dtype=object)
        array[:] = values
        return array

    return {
        "dummy_tensor": torch.zeros(n, 1, dtype=torch.uint8),
        "raw_prompt": column([[{"role": "user", "content": f"Frage {u}?"}] for u in uids]),
        "reward_model": column([{"style": "lrpo", "ground_truth": g} for g in labels]),
        "extra_info": column([{"split": "train", "index": i} for i in range(n)]),
        "data_source": column(["test/de"] * n),
        "agent_name": column([agent] * n),
        "uid": column(uids),
        "index": np.arange(n),
    }


@dataclass
class Rollouts:
    """One step's rollouts as the trainer receives them, whichever worker made them."""

    rewards: np.ndarray
    columns: dict[str, np.ndarray]  # the agent loop's extra fields, one value per rollout
    reward_extra: dict[str, np.ndarray]  # the reward breakdown, one value per rollout
    prompts: list[str] = field(default_factory=list)  # what the LLM server was asked

    def group(self, uid: str) -> dict[str, np.ndarray]:
        rows = self.columns["uid"] == uid
        return {key: values[rows] for key, values in self.columns.items()}


def reward_handles(config) -> list[SimpleNamespace]:
    """A ``RewardLoopWorker`` behind a Ray actor handle (a Ray call copies its argument)."""
    reward_worker = RewardLoopWorker(config)
    ray_hop = SimpleNamespace(
        remote=lambda data: reward_worker.compute_score(pickle.loads(pickle.dumps(data)))
    )
    return [SimpleNamespace(compute_score=ray_hop)]


def run_legacy(config, rows: dict, server: EchoServer, validate: bool) -> Rollouts:
    """``trainer.use_v1=false``: ``AgentLoopWorker.generate_sequences`` on the repeated batch."""
    batch = DataProto.from_single_dict(rows).repeat(repeat_times=K, interleave=True)
    batch.meta_info = {"global_steps": 1, "validate": validate}

    async def run() -> DataProto:
        worker = AgentLoopWorker(config, server, None, reward_handles(config))
        return await worker.generate_sequences(batch)

    out = asyncio.run(run())
    fields = out.non_tensor_batch
    extra = {key: fields[key] for key in out.meta_info["reward_extra_keys"]}
    uids = np.repeat(rows["uid"], K)
    return Rollouts(out.batch["rm_scores"].sum(-1).numpy(), {**fields, "uid": uids}, extra)


class InMemoryTransferQueue(ModuleType):
    """TransferQueue's client functions that the V1 agent-loop worker calls, in memory."""

    def __init__(self) -> None:
        super().__init__("transfer_queue")
        self.status: dict[str, str] = {}
        self.rollouts: dict[str, dict] = {}

    def init(self, *args, **kwargs) -> None:
        """Nothing to connect to."""

    async def async_kv_put(self, *, key, partition_id, tag) -> None:
        self.status[key] = tag["status"]

    async def async_kv_batch_put(self, *, keys, fields, tags, partition_id) -> None:
        for i, key in enumerate(keys):
            self.rollouts[key] = fields[i].to_dict()


@pytest.fixture(scope="module")
def v1_worker_class():
    """verl's V1 ``AgentLoopWorkerTQ`` (the Ray actor's class), bound to an in-memory queue."""
    path = Path(verl.__file__).parent / "trainer" / "ppo" / "v1" / "agent_loop_tq.py"
    spec = importlib.util.spec_from_file_location("verl.trainer.ppo.v1.agent_loop_tq", path)
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:  # it imports transfer_queue at the top
        patch.setitem(sys.modules, "transfer_queue", InMemoryTransferQueue())
        spec.loader.exec_module(module)
    return module.AgentLoopWorkerTQ.__ray_actor_class__, module


def run_v1(config, rows: dict, server: EchoServer, validate: bool, v1) -> Rollouts:
    """``trainer.use_v1=true``: ``AgentLoopWorkerTQ`` runs each prompt's n rollouts and puts
    them into TransferQueue, from which the trainer reads ``rm_scores`` and ``extra_fields``."""
    worker_class, module = v1
    queue = module.tq = InMemoryTransferQueue()
    batch = tensordict_utils.get_tensordict(rows)
    tensordict_utils.assign_non_tensor_data(batch, "global_steps", 1)
    tensordict_utils.assign_non_tensor_data(batch, "validate", validate)

    async def run() -> None:
        worker = worker_class(config, server, None, reward_handles(config))
        await worker.generate_sequences(batch)
        await asyncio.gather(*worker.background_tasks)

    asyncio.run(run())
    assert set(queue.status.values()) == {"finished"}, queue.status
    stored = [queue.rollouts[key] for key in sorted(queue.rollouts)]
    extra_fields = [r["extra_fields"] for r in stored]
    columns = {
        key: np.array([f[key] for f in extra_fields])
        for key in lrpo_verl.ASSIGNMENT_KEYS
        if key in extra_fields[0]
    }
    columns["uid"] = np.array([r["uid"] for r in stored])
    infos = [f["reward_extra_info"] for f in extra_fields]
    extra = {key: np.array([info[key] for info in infos]) for key in infos[0]}
    rewards = np.array([float(r["rm_scores"].sum()) for r in stored])
    return Rollouts(rewards, columns, extra)


@pytest.fixture
def generate(trainer_config, v1_worker_class):
    """Run prompt rows through the agent-loop worker of a trainer path; returns the Rollouts."""

    def generate(
        trainer: str,
        uids: list[str],
        labels: list[str],
        *,
        agent=lrpo_verl.AGENT_NAME,
        validate=False,
    ) -> Rollouts:
        server = EchoServer(tiny_tokenizer())
        rows = prompt_rows(uids, labels, agent)
        if trainer == "legacy":
            out = run_legacy(trainer_config, rows, server, validate)
        else:
            out = run_v1(trainer_config, rows, server, validate, v1_worker_class)
        out.prompts = server.prompts
        return out

    return generate


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


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("manager", REWARD_MANAGERS)
def test_every_reward_manager_gives_routed_rollouts_their_reward(
    trainer, manager, trainer_config, generate, routed
):
    trainer_config.reward.reward_manager.name = manager
    out = generate(trainer, ["u0", "u1"], [LABEL] * 2)
    router = routed.config.make_router()
    context = unpack_label(LABEL).context
    for uid in ["u0", "u1"]:
        group = out.group(uid)
        assert sorted(group["lrpo_slot"]) == list(range(K))
        (ticket,) = set(group["lrpo_ticket"])  # the service's routing key of the group
        assert ticket.startswith(uid)
        plan = router.route([context], keys=[ticket])
        by_slot = dict(zip(group["lrpo_slot"], group["lrpo_language"], strict=True))
        assert [by_slot[s] for s in range(K)] == plan.languages[0].tolist()
        assert by_slot[0] == "de"  # K_on = 1: slot 0 keeps the prompt's language
    # each prompt asks for its rollout's language (none when it is the prompt's own)
    asked = [m[1] if (m := _TAG.search(p)) else "de" for p in out.prompts]
    assert sorted(asked) == sorted(out.columns["lrpo_language"])
    routed_rows = out.columns["lrpo_language"] != "de"
    assert routed_rows.any() and not routed_rows.all()
    # every rollout answered in its language: reward 1 whatever the manager, logged alike
    np.testing.assert_allclose(out.rewards, 1.0)
    assert set(out.reward_extra) == BREAKDOWN
    np.testing.assert_array_equal(out.reward_extra["lrpo/routed"], routed_rows.astype(float))
    # groups_per_step = 2 complete groups: one router step, all 2 K rewards reported
    metrics = routed.client.service.metric_sums().metrics()
    assert metrics["router/step"] == 1 and metrics["router/service/rewards"] == 2 * K
    assert routed.paths and set(routed.paths) == {None}  # $LRPO_CONFIG in the workers


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("manager", REWARD_MANAGERS)
def test_every_reward_manager_scores_rows_of_other_agent_loops(
    trainer, manager, trainer_config, generate, routed, caplog
):
    trainer_config.reward.reward_manager.name = manager
    lrpo_verl._warn_outside_agent_loop.cache_clear()
    with caplog.at_level(logging.WARNING, logger="lrpo.integrations.verl"):
        out = generate(trainer, ["v0"], [LABEL], agent="single_turn_agent", validate=True)
    np.testing.assert_allclose(out.rewards, 1.0)  # scored in the prompt's language by the manager
    assert set(out.reward_extra) >= BREAKDOWN
    np.testing.assert_array_equal(out.reward_extra["lrpo/routed"], 0.0)
    assert not any("<|out_lang_" in p for p in out.prompts)
    assert never_asked(routed)  # nothing routed, nothing reported
    assert len([r for r in caplog.records if "did not run" in r.message]) == 1


@pytest.mark.parametrize("trainer", TRAINERS)
def test_validation_rows_keep_the_prompt_language(trainer, generate, routed):
    label = pack_label(language="de", reference="ref", route=False)
    out = generate(trainer, ["v0"], [label], validate=True)
    assert set(out.columns["lrpo_language"]) == {"de"}
    assert not any("<|out_lang_" in p for p in out.prompts)
    np.testing.assert_allclose(out.rewards, 1.0)
    assert never_asked(routed)


def test_the_k_of_a_group_must_be_the_router_k(trainer_config, generate, routed):
    trainer_config.actor_rollout_ref.rollout.n = K - 1
    with pytest.raises(GroupMismatchError, match=f"K={K - 1} rollouts but its plan has K={K}"):
        generate("legacy", ["u0"], [LABEL])


# ---------------------------------------------------------- refused trainer settings
def _foreign_reward_function(config, tmp_path: Path) -> None:
    path = tmp_path / "my_reward.py"
    path.write_text("def compute_score(**kwargs):\n    return 0.0\n", encoding="utf-8")
    config.reward.custom_reward_function.path = str(path)


def _custom_manager(config, tmp_path: Path) -> None:
    path = tmp_path / "my_manager.py"
    path.write_text(
        "from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager\n\n\n"
        "class MyManager(NaiveRewardManager):\n    pass\n",
        encoding="utf-8",
    )
    manager = config.reward.reward_manager
    manager.source, manager.name, manager.module.path = "importlib", "MyManager", str(path)


def _reward_model(config, tmp_path: Path) -> None:
    config.reward.reward_model.enable = True
    config.reward.reward_model.model_path = config.actor_rollout_ref.model.path


def _dapo_overlong_penalty(config, tmp_path: Path) -> None:
    config.reward.reward_manager.name = "dapo"
    config.reward.reward_kwargs = {
        "max_resp_len": 16,
        "overlong_buffer_cfg": {"enable": True, "len": 4, "penalty_factor": 1.0, "log": False},
    }


REFUSED = {
    "reward-model": (_reward_model, r"reward\.reward_model\.enable=False"),
    "dapo-overlong": (_dapo_overlong_penalty, r"overlong_buffer_cfg\.enable=False"),
    "custom-manager": (_custom_manager, r"reward\.reward_manager\.source=register"),
    "foreign-function": (_foreign_reward_function, r"point it at recipes/verl/lrpo_reward\.py"),
}


@pytest.mark.parametrize("setting", sorted(REFUSED))
def test_settings_that_would_replace_the_reward_stop_the_first_rollout(
    setting, trainer_config, generate, routed, tmp_path
):
    change, fix = REFUSED[setting]
    change(trainer_config, tmp_path)
    with pytest.raises(ValueError, match=fix):
        generate("legacy", ["u0"], [LABEL])
    assert never_asked(routed)


def test_v1_logs_the_refusal_of_each_prompt(trainer_config, generate, routed, tmp_path, caplog):
    _dapo_overlong_penalty(trainer_config, tmp_path)
    # verl's V1 worker does not stop on a failed rollout: it logs it and marks the group failed
    with pytest.raises(AssertionError, match="failure"):
        generate("v1", ["u0"], [LABEL])
    errors = [r.exc_info[1] for r in caplog.records if r.getMessage().startswith("Error in")]
    assert len(errors) == K and all("overlong_buffer_cfg.enable=False" in str(e) for e in errors)
    assert never_asked(routed)


@pytest.mark.parametrize("manager", sorted(set(LEGACY_MANAGERS) - set(REWARD_MANAGERS)))
def test_verl_refuses_its_legacy_only_managers_at_start(manager, trainer_config):
    # verl 0.9 still ships them under verl.workers.reward_manager, but its reward loop, which
    # both trainers build at start, looks the name up in its own registry only
    trainer_config.reward.reward_manager.name = manager
    with pytest.raises(ValueError, match=f"Unknown reward manager: {manager}"):
        RewardLoopWorker(trainer_config)


def test_the_readme_settings_pass(trainer_config):
    lrpo_verl.check_trainer_config(trainer_config)  # naive, lrpo's reward function, no model
    trainer_config.reward.custom_reward_function.path = None  # verl's default scorer: allowed
    lrpo_verl.check_trainer_config(trainer_config)


def test_route_sample_rewrites_a_copy_and_keys_groups_by_uid(routed):
    kwargs = {
        "raw_prompt": np.array([{"role": "user", "content": "Frage?"}], dtype=object),
        "reward_model": {"ground_truth": LABEL},
        "uid": "u9",
    }

    async def one_group():
        return [await lrpo_verl.route_sample(routed, kwargs, K) for _ in range(K)]

    results = asyncio.run(one_group())
    assert [a.slot for _, _, a in results] == list(range(K))
    for new, label, a in results:
        assert label == unpack_label(LABEL)
        content = new["raw_prompt"][-1]["content"]
        assert content == ("Frage?" + (f"\n<|out_lang_{a.language}|>" if a.routed else ""))
        assert lrpo_verl.read_assignment(lrpo_verl.assignment_fields(a)) == a
    assert kwargs["raw_prompt"][0]["content"] == "Frage?"  # the K rollouts share the original


# ------------------------------------------------------------------- compute_score
def test_compute_score_scores_in_the_prompt_language_and_reports_nothing(routed):
    extra_info = {"lrpo_label": LABEL, "raw_prompt": [{"role": "user", "content": "Frage?"}]}
    de = lrpo_verl.compute_score("test/de", "de:good", "42", extra_info, lrpo_config="/x.yaml")
    sw = lrpo_verl.compute_score("test/de", "sw:good", "42", extra_info)
    assert (de["score"], sw["score"], de["lrpo/routed"]) == (1.0, 0.0, 0.0)
    assert set(de) == set(sw) == BREAKDOWN and all(type(v) is float for v in de.values())
    assert never_asked(routed)
    assert set(routed.paths) == {"/x.yaml", None}  # reward_kwargs reach for_process


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
    ],
)
def test_bad_rows_name_the_field_and_the_fix(routed, ground_truth, extra_info, error, message):
    with pytest.raises(error, match=message):
        lrpo_verl.compute_score("test/de", "de:good", ground_truth, extra_info)
    kwargs = {
        "raw_prompt": [{"role": "user", "content": "?"}],
        "extra_info": extra_info,
        "reward_model": {"ground_truth": ground_truth},
    }
    with pytest.raises(error, match=message):
        asyncio.run(lrpo_verl.route_sample(routed, kwargs, K))


def test_a_partial_assignment_names_the_missing_fields():
    with pytest.raises(ValueError, match=r"lacks.*lrpo_ticket"):
        lrpo_verl.read_assignment({"lrpo_language": "de", "lrpo_slot": 1})
