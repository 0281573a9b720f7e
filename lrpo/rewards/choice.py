"""`RewardConfig`: the reward a config chooses by ``kind``, for the plugins and ``lrpo serve``.

``kind: semantic`` (or no ``kind``, so that configs written before the choice existed stay
valid) is lrpo's semantic reward; ``kind: walar`` is WALAR's translation reward, whose source
sentence travels in a packed label's ``reference``
(:func:`~lrpo.labelled.scoring.score_labelled` reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Tag

from .semantic import SemanticReward
from .semantic_config import SemanticRewardConfig
from .walar import WalarReward
from .walar_config import WalarRewardConfig

__all__ = ["REWARD_KINDS", "ConfiguredReward", "RewardConfig", "make_reward"]

#: The rewards a config can choose by ``kind`` (absent: ``semantic``).
REWARD_KINDS = ("semantic", "walar")


def _reward_kind(value: Any) -> str | None:
    """The ``kind`` of a reward setting: a mapping's key (absent: ``semantic``, whose config has
    no such field, so configs written before the choice existed stay valid), or a built
    config's; None for anything else (refused, naming the kinds)."""
    if isinstance(value, Mapping):
        kind = value.get("kind", "semantic")
        return kind if isinstance(kind, str) else None
    if isinstance(value, WalarRewardConfig):
        return "walar"
    return "semantic" if isinstance(value, SemanticRewardConfig) else None


def _without_kind(value: Any) -> Any:
    """A semantic setting without its ``kind: semantic`` (the config has no such field)."""
    if isinstance(value, Mapping) and "kind" in value:
        return {key: item for key, item in value.items() if key != "kind"}
    return value


#: What a plugin or ``lrpo serve`` scores with, chosen by ``kind``: ``semantic`` (the default:
#: a :class:`~lrpo.rewards.SemanticRewardConfig`) or ``walar`` (a
#: :class:`~lrpo.rewards.WalarRewardConfig`).
RewardConfig = Annotated[
    Annotated[SemanticRewardConfig, BeforeValidator(_without_kind), Tag("semantic")]
    | Annotated[WalarRewardConfig, Tag("walar")],
    Discriminator(
        _reward_kind,
        custom_error_type="reward_kind",
        custom_error_message="the reward must be a mapping of settings whose kind is one of "
        f"{list(REWARD_KINDS)} (absent: semantic)",
    ),
]
#: A reward built from a :data:`RewardConfig`.
ConfiguredReward = SemanticReward | WalarReward


def make_reward(config: SemanticRewardConfig | WalarRewardConfig) -> ConfiguredReward:
    """The reward of a :data:`RewardConfig` (this loads its models)."""
    if isinstance(config, WalarRewardConfig):
        return WalarReward(config)
    return SemanticReward(config)
