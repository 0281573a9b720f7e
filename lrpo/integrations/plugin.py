"""What the file-based plugins (OpenRLHF, verl) share, loaded with no arguments in every worker:
the settings (:class:`PluginConfig`, from the file named by ``$LRPO_CONFIG``) and the work
(:class:`RoutedRollouts`: assign a rollout's language, rewrite, score, report the reward).

The reward is a choice (:data:`~lrpo.rewards.choice.RewardConfig`, which ``lrpo serve``
shares): lrpo's semantic reward, or WALAR's translation reward (``kind: walar``)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lrpo.batching import MicroBatcher
from lrpo.labelled.labels import PackedLabel
from lrpo.labelled.scoring import ScoredRollouts, score_labelled
from lrpo.languages import DEFAULT_TAG_TEMPLATE, DirectiveStyle, apply_directive
from lrpo.rewards import SemanticRewardConfig
from lrpo.rewards.choice import ConfiguredReward, RewardConfig, make_reward
from lrpo.router import BaseRouter, RouterConfig, make_router
from lrpo.router_service import Assignment, RouterClient, ServiceConfig, connect

__all__ = ["CONFIG_ENV", "PluginConfig", "RoutedRollouts", "group_key", "load_plugin_config"]

#: Environment variable naming the plugin config file in every worker.
CONFIG_ENV = "LRPO_CONFIG"


class PluginConfig(BaseModel):
    """Settings of the OpenRLHF and verl plugins, from one YAML or JSON file.

    The router's policy is ``router.policy`` (``{kind: ema | thompson | dominant | fixed |
    uniform | monolingual, ...its settings}``), as everywhere in lrpo; the reward is
    ``reward`` (``{kind: semantic | walar, ...its settings}``, :data:`RewardConfig`; without a
    ``kind``, the semantic reward's settings).

    Examples
    --------
    >>> config = PluginConfig.model_validate({
    ...     "router": {"languages": ["de", "en", "ja"], "num_rollouts": 4, "num_on_policy": 1,
    ...                "policy": {"kind": "thompson", "prior_strength": 4.0}},
    ...     "service": {"groups_per_step": 32},
    ... })
    >>> config.router.policy.kind, config.service.backend, config.directive
    ('thompson', 'local', <DirectiveStyle.TAG: 'tag'>)
    >>> type(config.reward).__name__
    'SemanticRewardConfig'
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    router: RouterConfig
    service: ServiceConfig
    reward: RewardConfig = Field(default_factory=SemanticRewardConfig)
    """What scores a rollout: lrpo's semantic reward (default), or ``kind: walar``."""
    directive: DirectiveStyle = DirectiveStyle.TAG
    """How a prompt asks."""
    tag_template: str = DEFAULT_TAG_TEMPLATE
    """Template of the tag style."""

    @model_validator(mode="before")
    @classmethod
    def _policy_moved(cls, data: Any) -> Any:
        """Name the fix for a file written when the policy was a top-level key."""
        if isinstance(data, Mapping) and "policy" in data:
            raise ValueError(
                f"'policy: {data['policy']}' is no longer a top-level key: the policy is part of "
                "the router config, e.g. router: {policy: {kind: ema}} (kinds: ema, thompson, "
                "dominant, fixed, uniform, monolingual; 'lrpo' is now 'ema')"
            )
        return data

    def make_router(self) -> BaseRouter:
        """A new router for this config (the router service's factory)."""
        return make_router(self.router)


def load_plugin_config(path: str | os.PathLike[str] | None = None) -> PluginConfig:
    """Read a plugin config (``.yaml``/``.yml`` or ``.json``); default: ``$LRPO_CONFIG``."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        raise FileNotFoundError(
            f"no lrpo plugin config: set {CONFIG_ENV}=<file.yaml> in the environment of every "
            "trainer worker (e.g. Ray's runtime_env env_vars)"
        )
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        import yaml

        return PluginConfig.model_validate(yaml.safe_load(text))
    return PluginConfig.model_validate(json.loads(text))


def group_key(prompt: str | Sequence[Mapping[str, Any]], label: PackedLabel) -> str:
    """The label's ``group``, else a stable hash of the prompt and its language."""
    if label.group:
        return label.group
    text = prompt if isinstance(prompt, str) else json.dumps(list(prompt), sort_keys=True)
    digest = hashlib.blake2b(f"{label.language}\n{text}".encode(), digest_size=12).hexdigest()
    return f"prompt-{digest}"


class RoutedRollouts:
    """Route, rewrite, score and report single rollouts for a file-based plugin.

    Parameters
    ----------
    config : PluginConfig
        The plugin settings.
    client : RouterClient, optional
        Default: :func:`lrpo.router_service.connect` with ``config.service``, created on first use.
    reward : SemanticReward or WalarReward, optional
        Default: built from ``config.reward`` on first use (it loads its models).
    """

    def __init__(
        self,
        config: PluginConfig,
        *,
        client: RouterClient | None = None,
        reward: ConfiguredReward | None = None,
    ) -> None:
        self.config = config
        self._client = client
        self._reward = reward
        self._setup_lock = threading.Lock()  # lazy set-up may race between worker threads
        self._score_lock = threading.Lock()  # the rewards keep caches and counters
        self._score = MicroBatcher(self._score_off_loop)

    @classmethod
    @functools.cache
    def for_process(cls, path: str | None = None) -> RoutedRollouts:
        """One instance per config path in this process (plugin files call this)."""
        return cls(load_plugin_config(path))

    @property
    def client(self) -> RouterClient:
        with self._setup_lock:
            if self._client is None:
                self._client = connect(self.config.service, self.config.make_router)
            return self._client

    @property
    def reward(self) -> ConfiguredReward:
        with self._setup_lock:
            if self._reward is None:
                config = self.config.reward
                if isinstance(config, SemanticRewardConfig):  # its gate: the arms and English
                    config = config.for_languages(self.config.router.languages)
                self._reward = make_reward(config)
            return self._reward

    async def assign(
        self, group: str, label: PackedLabel, num_rollouts: int | None = None
    ) -> Assignment:
        """This rollout's language; labels with ``route=False`` keep theirs without asking."""
        if not label.route:
            return Assignment.unrouted(label.language)
        return await self.client.assign(
            group, label.context, num_rollouts or self.config.router.num_rollouts
        )

    def rewrite(self, prompt: Any, assignment: Assignment) -> Any:
        """The prompt with the directive of its language, or unchanged when not routed away."""
        if not assignment.routed:
            return prompt
        config = self.config
        return apply_directive(
            prompt, assignment.language, config.directive, tag_template=config.tag_template
        )

    async def score(
        self, response: str, label: PackedLabel, assignment: Assignment, prompt: Any = None
    ) -> tuple[float, dict[str, float]]:
        """Reward and logs of one response (a str or chat prompt helps the copy guard). The
        responses of one event-loop turn are scored as one batch in a worker thread."""
        return await self._score((response, label, assignment.language, prompt))

    async def _score_off_loop(self, items: list[tuple]) -> list[tuple[float, dict[str, float]]]:
        responses, labels, requested, prompts = (
            list(column) for column in zip(*items, strict=True)
        )
        scored = await asyncio.to_thread(
            self.score_many, responses, labels, requested=requested, prompts=prompts
        )
        return [scored.item(i) for i in range(len(items))]

    def score_many(
        self,
        responses: list[str],
        labels: list[PackedLabel],
        *,
        requested: list[str | None] | None = None,
        prompts: list[Any] | None = None,
    ) -> ScoredRollouts:
        """:func:`score_labelled` with this process's reward, one thread at a time (the reward
        keeps a cache and running sums; OpenRLHF calls reward files from worker threads)."""
        reward = self.reward
        with self._score_lock:
            return score_labelled(reward, responses, labels, requested=requested, prompts=prompts)

    async def report(self, assignment: Assignment, reward: float) -> None:
        """Give the reward of a routed rollout back to the router (unrouted ones are skipped)."""
        if assignment.ticket:
            await self.client.report(assignment, reward)
