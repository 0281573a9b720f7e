"""The reward function file for verl 0.9: ``reward.custom_reward_function.path=<this file>``.

verl loads this file by path in every reward-loop worker and calls ``compute_score`` (the default
``reward.custom_reward_function.name``) once per rollout of an agent loop other than
``lrpo_agent``, which scores its own; lrpo must be installed in the workers' environment. What it
does: :func:`lrpo.integrations.verl.compute_score`; see README.md.
"""

from lrpo.integrations.verl import compute_score

__all__ = ["compute_score"]
