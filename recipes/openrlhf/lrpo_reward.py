"""lrpo's reward for OpenRLHF 0.11: pass this file as ``--reward.remote_url``.

Rewards only: the calibrated, language-gated similarity to the label's reference, in the
language the label requests (default: the prompt's own). A reward file cannot change prompts,
so nothing is routed; use ``lrpo_agent.py`` for routing. Settings: ``$LRPO_CONFIG``, read (and
the reward loaded) when an engine loads this file, so that a missing one stops it at start.
"""

from lrpo.integrations.openrlhf import prepare_reward_func, reward_func

prepare_reward_func()

__all__ = ["reward_func"]
