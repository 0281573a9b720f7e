"""lrpo for OpenRLHF 0.11: language-routed samples through an agent file, or rewards only.

OpenRLHF loads a plugin by path in every vLLM engine, with no arguments, and hands it one
sample at a time (no slot index, no step boundary). Two files use this module:

* ``--train.agent_func_path recipes/openrlhf/lrpo_agent.py``: :class:`LanguageRoutedExecutor`.
  For each sample a :class:`LanguageRoutedAgent` asks the router service for the sample's
  language (group key: the label's ``group``, else a hash of the prompt), rewrites the prompt to
  ask for it, lets OpenRLHF's own single-turn executor generate, scores the answer and reports
  the reward back.
* ``--reward.remote_url recipes/openrlhf/lrpo_reward.py``: :func:`reward_func`, the
  calibrated and gated reward without routing (a reward file cannot change the prompt).
* ``--train.agent_func_path recipes/openrlhf/lrpo_remote_agent.py``:
  :class:`RemoteRewardExecutor`, rewards from ``lrpo serve`` over HTTP without routing, in
  place of ``--reward.remote_url http://...``: OpenRLHF's own HTTP client retries a refused
  request five times, then keeps the sample with no reward and logs why at INFO level only,
  so a bad label surfaces as a crash much later; this executor stops the run at once.

The first two read their settings from the plugin config named by ``$LRPO_CONFIG``
(:class:`~lrpo.integrations.plugin.PluginConfig`), the third only the server's URL from
``$LRPO_REWARD_URL``; the label column holds labels packed by
``recipes/openrlhf/prepare_data.py``.

Prompts should be plain questions or chat message lists, not already chat-templated: the
agent adds the directive to the user turn, then applies the chat template itself (see
:mod:`lrpo.integrations.openrlhf.prompts`).

Why not ``MultiTurnAgentExecutor``: it ignores ``--rollout.max_new_tokens`` (it generates up to
``--data.max_len``), never sets ``truncated``, and hands ``step`` the answer with its special
tokens; generating through ``SingleTurnAgentExecutor`` keeps OpenRLHF's single-turn behaviour.
"""

from .prompts import render_prompt
from .remote import REWARD_URL_ENV, RemoteRewardError, RemoteRewardExecutor
from .reward_file import reward_func
from .routed import LanguageRoutedAgent, LanguageRoutedExecutor

__all__ = [
    "REWARD_URL_ENV",
    "LanguageRoutedAgent",
    "LanguageRoutedExecutor",
    "RemoteRewardError",
    "RemoteRewardExecutor",
    "render_prompt",
    "reward_func",
]
