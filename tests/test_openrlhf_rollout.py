"""lrpo's agent and reward files inside OpenRLHF's own rollout loop, with several engines.

OpenRLHF's ``SamplesGenerator`` (the trainer's side: prompt batches from its ``PromptDataset``,
load-balanced dispatch, dynamic filtering, evaluation, over-sampling) drives engines that run
OpenRLHF's own ``RolloutRayActor.generate_responses`` (one concurrent execution per sample)
with executors loaded from the recipe files. Ray is emulated: each engine runs on an event
loop of its own thread, as an async Ray actor does, and each call's arguments are pickled, as
Ray sends them, so that every call gets objects of its own. The engines share one router
service, as the engines of a run share the router actor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle
import threading
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from test_openrlhf import (
    FILES,
    SETTINGS,
    FakeEngine,
    K,
    RecordingClient,
    fake_reward,
    openrlhf_rollout,
    tokenizer,
)

from lrpo.integrations.plugin import PluginConfig, RoutedRollouts
from lrpo.labelled.labels import pack_label, unpack_label
from lrpo.router_service import GroupMismatchError, RouterService

__all__ = ["openrlhf_rollout", "tokenizer"]  # fixtures of test_openrlhf

GROUPS_PER_STEP = 2  # = --rollout.batch_size below
GENERATE = {"max_new_tokens": 16, "max_len": 256}  # the trainer's generate kwargs


class ScriptedEngine(FakeEngine):
    """Answers a "hopeless" question always in Japanese (no rollout passes the gate); any other
    question by turns as asked and in Japanese, so that its rewards differ within a group."""

    def __init__(self, tokenizer) -> None:
        super().__init__(tokenizer)
        self.seen: Counter[str] = Counter()

    def answer_language(self, prompt: str) -> str:
        self.seen[prompt] += 1
        if "hopeless" in prompt or self.seen[prompt] % 2:
            return "ja"
        return super().answer_language(prompt)


class Engine:
    """One vLLM engine as the trainer's side sees it: methods called with ``.remote``.

    Its actor is OpenRLHF's ``RolloutRayActor`` code with the vLLM parts replaced: the executor
    OpenRLHF would build, and a scripted model.
    """

    def __init__(self, actor_class: type, executor, model: ScriptedEngine) -> None:
        self.model = model
        self.actor = actor_class.__new__(actor_class)  # its __init__ starts vLLM
        self.actor.executor = executor
        self.actor.generate = model.generate
        self.actor.get_num_unfinished_requests = lambda: 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def __getattr__(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(remote=lambda *args, **kwargs: self._call(name, args, kwargs))

    def _call(self, name: str, args: tuple, kwargs: dict) -> concurrent.futures.Future:
        args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))  # what Ray sends
        result = getattr(self.actor, name)(*args, **kwargs)
        if asyncio.iscoroutine(result):
            return asyncio.run_coroutine_threadsafe(result, self.loop)
        done = concurrent.futures.Future()
        done.set_result(result)
        return done

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class EmulatedRay:
    """What OpenRLHF's samples generator asks of ``ray``, on the engines' futures."""

    @staticmethod
    def get(refs):
        if isinstance(refs, list):
            return [ref.result(timeout=60) for ref in refs]
        return refs.result(timeout=60)

    @staticmethod
    def wait(refs, num_returns=1, timeout=None):
        concurrent.futures.wait(refs, timeout=timeout, return_when="FIRST_COMPLETED")
        ready = [ref for ref in refs if ref.done()][:num_returns]
        return ready, [ref for ref in refs if ref not in ready]

    @staticmethod
    def cancel(ref) -> None:
        ref.cancel()


@pytest.fixture(scope="module")
def openrlhf_loop(openrlhf_rollout):
    """OpenRLHF's samples generator, dataset and engine actor code, with Ray emulated."""
    with pytest.MonkeyPatch.context() as patch:
        from openrlhf.datasets import PromptDataset
        from openrlhf.trainer.ppo_utils import samples_generator
        from openrlhf.trainer.ray.vllm_engine import RolloutRayActor

        patch.setattr(samples_generator, "ray", EmulatedRay)
        yield SimpleNamespace(
            SamplesGenerator=samples_generator.SamplesGenerator,
            PromptDataset=PromptDataset,
            actor_class=RolloutRayActor.__ray_actor_class__,
        )


class Run:
    """An OpenRLHF run's rollout side: its arguments (:func:`arguments`), datasets and engines
    (one per executor)."""

    def __init__(self, loop, tokenizer, executors: list, **args) -> None:
        self.strategy = SimpleNamespace(args=arguments(**args), is_rank_0=lambda: True)
        self.engines = [Engine(loop.actor_class, e, ScriptedEngine(tokenizer)) for e in executors]
        self.loop, self.tokenizer = loop, tokenizer

    def generator(self, train: list[dict], evaluation: list[dict] | None = None):
        """OpenRLHF's samples generator over these rows, as ``prepare_datasets`` loads them."""
        train_loader, eval_loader = (
            None if rows is None else self._loader(rows) for rows in (train, evaluation)
        )
        return self.loop.SamplesGenerator(
            self.strategy, train_loader, eval_loader, self.tokenizer, self.engines
        )

    def _loader(self, rows: list[dict]) -> torch.utils.data.DataLoader:
        dataset = self.loop.PromptDataset(rows, self.tokenizer, self.strategy)
        return torch.utils.data.DataLoader(dataset, batch_size=1, collate_fn=dataset.collate_fn)

    def stop(self) -> None:
        for engine in self.engines:
            engine.stop()


def arguments(
    n_samples: int = K,
    dynamic_filtering: bool = False,
    generate_batch_size: int | None = None,
) -> SimpleNamespace:
    """The fields of OpenRLHF's arguments that its samples generator and dataset read."""
    return SimpleNamespace(
        rollout=SimpleNamespace(
            batch_size=GROUPS_PER_STEP,
            n_samples_per_prompt=n_samples,
            vllm_generate_batch_size=generate_batch_size or GROUPS_PER_STEP,
        ),
        vllm=SimpleNamespace(enable_sleep=False),
        algo=SimpleNamespace(
            dynamic_filtering_enable=dynamic_filtering,
            dynamic_filtering_range=(0.0, 1.0),
            advantage=SimpleNamespace(is_correction_enable=False),
        ),
        data=SimpleNamespace(input_key="prompt", label_key="label", apply_chat_template=False),
    )


def rows(count: int, *, hopeless: tuple[int, ...] = (), **label) -> list[dict]:
    """Prepared rows (as prepare_data.py writes them) of German questions q0, q1, ..."""
    return [
        {
            "prompt": f"Frage {i}{' (hopeless)' if i in hopeless else ''}?",
            "label": pack_label(language="de", reference="ref", group=f"q{i}", **label),
            "datasource": "de",
        }
        for i in range(count)
    ]


def routed_config() -> PluginConfig:
    service = {**SETTINGS["service"], "groups_per_step": GROUPS_PER_STEP}
    return PluginConfig.model_validate({**SETTINGS, "service": service})


@pytest.fixture
def routed(openrlhf_rollout, openrlhf_loop, tokenizer, monkeypatch):
    """``routed(engines, **args)``: a run whose engines load lrpo_agent.py as OpenRLHF's
    engines do, each with a client of its own (``run.clients``) to one router service
    (``run.service``)."""
    config = routed_config()
    service = RouterService(config.make_router(), **config.service.owner_settings())
    clients: list[RecordingClient] = []

    def in_engine(cls, path=None) -> RoutedRollouts:  # RoutedRollouts.for_process, per engine
        clients.append(RecordingClient(service))
        return RoutedRollouts(config, client=clients[-1], reward=fake_reward())

    monkeypatch.setattr(RoutedRollouts, "for_process", classmethod(in_engine))
    runs: list[Run] = []

    def make(engines: int = 2, **args) -> Run:
        agent = str(FILES / "lrpo_agent.py")
        executors = [openrlhf_rollout.load_agent(agent) for _ in range(engines)]
        run = Run(openrlhf_loop, tokenizer, executors, **args)
        run.service, run.clients = service, clients
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.stop()


def service_counts(service: RouterService) -> dict[str, float]:
    metrics = service.metric_sums().metrics()
    names = ("groups", "rewards", "late_rewards", "duplicate_rewards", "open_groups")
    return {name: metrics[f"router/service/{name}"] for name in names}


def trainer_groups(experiences: list, n: int) -> list[list]:
    """The trainer's groups: ``n`` consecutive samples of one prompt (its advantages and
    eval metrics reshape the batch so)."""
    groups = [experiences[i : i + n] for i in range(0, len(experiences), n)]
    for group in groups:
        assert len(group) == n and len({e.prompts[0] for e in group}) == 1
    return groups


def reported_by_group(clients: list[RecordingClient]) -> dict[str, list[float]]:
    """The rewards the router got, by prompt group key; each slot of a ticket reported once."""
    slots = Counter((ticket, slot) for client in clients for ticket, slot, _ in client.reported)
    assert set(slots.values()) == {1}
    rewards: dict[str, list[float]] = {}
    for client in clients:
        for ticket, _, reward in client.reported:
            rewards.setdefault(ticket.partition("@")[0], []).append(reward)
    return {group: sorted(values) for group, values in rewards.items()}


# --------------------------------------------------------------------------- agent file
@pytest.mark.parametrize("generate_batch_size", [None, 2 * GROUPS_PER_STEP])
def test_several_engines_share_the_router_and_groups_stay_whole(routed, generate_batch_size):
    """Two engines, K samples per prompt, two training steps; with over-sampling (async
    trainer's --rollout.vllm_generate_batch_size) the second step comes from the buffer."""
    run = routed(engines=2, generate_batch_size=generate_batch_size)
    generator = run.generator(rows(2 * GROUPS_PER_STEP))
    batches = [generator.generate_samples(**GENERATE)[0] for _ in range(2)]

    assert all(len(batch) == GROUPS_PER_STEP * K for batch in batches)
    groups = [group for batch in batches for group in trainer_groups(batch, K)]
    reported = reported_by_group(run.clients)
    for group in groups:  # each router group got its own prompt's K rewards, and no others
        key = unpack_label(group[0].labels[0]).group
        assert reported.pop(key) == sorted(e.rewards.item() for e in group)
        assert (
            sum(e.info["lrpo/routed"].item() == 0 for e in group)
            >= SETTINGS["router"]["num_on_policy"]
        )
    assert reported == {}
    assert service_counts(run.service) == {
        "groups": 2 * GROUPS_PER_STEP,
        "rewards": 2 * GROUPS_PER_STEP * K,
        "late_rewards": 0,
        "duplicate_rewards": 0,
        "open_groups": 0,
    }
    assert run.service.router.step == 2  # one router step per --rollout.batch_size groups
    assert all(engine.model.prompts for engine in run.engines)  # both engines generated


@pytest.mark.parametrize("n_samples", [K // 2, 2 * K])
def test_another_sample_count_than_k_is_refused_before_routing(routed, n_samples):
    run = routed(engines=2, n_samples=n_samples)
    generator = run.generator(rows(GROUPS_PER_STEP))
    with pytest.raises(GroupMismatchError, match=rf"--rollout\.n_samples_per_prompt {K}\b"):
        generator.generate_samples(**GENERATE)
    assert service_counts(run.service)["groups"] == 0
    assert not any(engine.model.prompts for engine in run.engines)


def test_dynamic_filtering_routes_replacements_and_completes_every_group(routed):
    """Hopeless prompts (every reward 0) are dropped by OpenRLHF and replaced by the next
    ones: the router learns from every routed group, dropped ones included, each once."""
    run = routed(engines=2, dynamic_filtering=True)
    generator = run.generator(rows(6, hopeless=(0, 2, 3)))
    samples, pass_rate, consumed, _ = generator.generate_samples(**GENERATE)

    kept = trainer_groups(samples, K)
    assert sorted(unpack_label(g[0].labels[0]).group for g in kept) == ["q1", "q4"]
    assert consumed == 5 and pass_rate == pytest.approx(100 * len(samples) / consumed)
    reported = reported_by_group(run.clients)
    assert sorted(reported) == [f"q{i}" for i in range(5)]
    assert all(reported[f"q{i}"] == [0.0] * K for i in (0, 2, 3))
    counts = service_counts(run.service)
    assert counts == {
        "groups": consumed,
        "rewards": consumed * K,
        "late_rewards": 0,
        "duplicate_rewards": 0,
        "open_groups": 0,
    }
    assert run.service.router.step == consumed // GROUPS_PER_STEP  # ahead of the trainer's 1


@pytest.mark.parametrize("eval_samples", [K - 1, K])
def test_evaluation_rows_prepared_with_eval_are_scored_and_not_routed(routed, eval_samples):
    run = routed(engines=2)
    evaluation = rows(3, route=False)
    generator = run.generator(rows(GROUPS_PER_STEP), evaluation)
    samples = generator.generate_eval_samples(
        **GENERATE, temperature=0.6, n_samples_per_prompt=eval_samples
    )

    groups = trainer_groups(samples, eval_samples)
    assert sorted(g[0].prompts[0] for g in groups) == sorted(r["prompt"] for r in evaluation)
    asked = [p for engine in run.engines for p in engine.model.prompts]
    assert len(asked) == 3 * eval_samples and not any("out_lang" in p for p in asked)
    by_turn = [float(turn % 2 == 0) for turn in range(1, eval_samples + 1)]  # ja, asked, ...
    assert sorted(e.rewards.item() for e in samples) == sorted(by_turn * 3)
    assert service_counts(run.service)["groups"] == 0  # the router saw nothing
    trained = generator.generate_samples(**GENERATE)[0]  # and training goes on as before
    assert len(trained) == GROUPS_PER_STEP * K
    assert run.service.router.step == 1


def test_routed_evaluation_rows_with_another_count_are_refused(routed):
    run = routed(engines=1)
    generator = run.generator(rows(GROUPS_PER_STEP), rows(2))
    with pytest.raises(GroupMismatchError, match=r"prepare_data\.py --eval"):
        generator.generate_eval_samples(**GENERATE, n_samples_per_prompt=K - 1)
    assert service_counts(run.service)["groups"] == 0


# -------------------------------------------------------------------------- reward file
def test_reward_file_with_several_engines_and_dynamic_filtering(
    openrlhf_loop, tokenizer, monkeypatch
):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    config = routed_config()
    service = RouterService(config.make_router(), **config.service.owner_settings())
    rollouts = RoutedRollouts(config, client=RecordingClient(service), reward=fake_reward())
    monkeypatch.setattr(RoutedRollouts, "for_process", classmethod(lambda cls, path=None: rollouts))
    # OpenRLHF's engines without an agent file: its single-turn executor, the reward by path
    executors = [SingleTurnAgentExecutor([str(FILES / "lrpo_reward.py")]) for _ in range(2)]
    run = Run(openrlhf_loop, tokenizer, executors, dynamic_filtering=True)
    try:
        generator = run.generator(rows(6, hopeless=(1,)), rows(2))
        samples, _, consumed, _ = generator.generate_samples(**GENERATE)
        evaluated = generator.generate_eval_samples(**GENERATE, n_samples_per_prompt=K - 1)
    finally:
        run.stop()
    kept = trainer_groups(samples, K)
    assert sorted(unpack_label(g[0].labels[0]).group for g in kept) == ["q0", "q2"]
    assert consumed == 3
    for group in kept:  # answers alternate German (reward 1) and Japanese (gated: 0)
        assert sorted(e.rewards.item() for e in group) == [0.0, 0.0, 1.0, 1.0]
        assert [e.info["lrpo/gate"].item() for e in group] == [e.rewards.item() for e in group]
    assert len(trainer_groups(evaluated, K - 1)) == 2
    assert all(e.rewards is not None for e in evaluated)
    assert rollouts.client.assigned == [] and rollouts.client.reported == []
