"""lrpo for OpenRLHF 0.11: language-routed samples through an agent file, or rewards only.

OpenRLHF loads a plugin by path in every vLLM engine, with no arguments, and hands it one
sample at a time (no slot index, no step boundary). The files in ``recipes/openrlhf/``:

* ``lrpo_agent.py`` (``--train.agent_func_path``): :class:`LanguageRoutedExecutor` asks the
  router service for each sample's language, rewrites the prompt (plain questions or chat
  messages, not chat-templated: :func:`render_prompt`), generates with OpenRLHF's single-turn
  executor, scores the answer and reports the reward back;
* ``lrpo_reward.py`` (``--reward.remote_url``): :func:`reward_func`, the reward without routing;
* ``lrpo_remote_agent.py`` (``--train.agent_func_path``): :class:`RemoteRewardExecutor`, rewards
  from ``lrpo serve`` over HTTP (its URL in ``$LRPO_REWARD_URL``), without routing.

The first two read the plugin config named by ``$LRPO_CONFIG``; labels are packed by
``recipes/openrlhf/prepare_data.py``. The agent refuses, by name, what would misroute without a
sign: ``service.backend: local`` (a router per engine), when an engine loads it, and a routed
prompt that OpenRLHF generates another number of times than ``router.num_rollouts``.

Why not ``MultiTurnAgentExecutor``: it ignores ``--rollout.max_new_tokens`` (it generates up to
``--data.max_len``), never sets ``truncated``, and hands ``step`` the answer with its special
tokens; generating through ``SingleTurnAgentExecutor`` keeps OpenRLHF's single-turn behaviour.
"""

from .remote import (
    REWARD_URL_ENV,
    RemoteRewardError,
    RemoteRewardExecutor,
    prepare_reward_func,
    reward_func,
)
from .routed import LanguageRoutedAgent, LanguageRoutedExecutor, render_prompt

__all__ = [
    "REWARD_URL_ENV",
    "LanguageRoutedAgent",
    "LanguageRoutedExecutor",
    "RemoteRewardError",
    "RemoteRewardExecutor",
    "prepare_reward_func",
    "render_prompt",
    "reward_func",
]
