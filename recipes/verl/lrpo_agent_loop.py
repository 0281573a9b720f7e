"""The lrpo agent loop for verl 0.9, importable as ``lrpo_agent_loop.LRPOAgentLoop``.

verl's agent-loop workers know the agent loops that verl ships and those listed in the YAML named
by ``actor_rollout_ref.rollout.agent.agent_loop_config_path``, whose ``_target_`` Hydra imports
in each worker as a dotted module path (a file path does not work there). ``lrpo_agent.yaml``
names the installed ``lrpo.integrations.verl.LRPOAgentLoop`` and needs nothing else. This file
serves setups that ship their agent loops as files on the workers' ``PYTHONPATH`` (e.g. Ray's
``runtime_env`` ``working_dir``) with ``_target_: lrpo_agent_loop.LRPOAgentLoop``; importing it
also registers ``lrpo_agent`` (verl's ``@register``) in the importing process.
"""

from lrpo.integrations.verl import AGENT_NAME, LRPOAgentLoop

__all__ = ["AGENT_NAME", "LRPOAgentLoop"]
