"""lrpo's agent for OpenRLHF 0.11: pass this file as ``--train.agent_func_path``.

Every vLLM engine loads it and builds ``AgentExecutor()``. Each sample then asks the router
service for its language, gets its prompt rewritten (and chat-templated) for it, is generated
by OpenRLHF's single-turn executor, scored by lrpo's reward and reported back to the router.
Settings: the plugin config named by ``$LRPO_CONFIG`` (see ``lrpo.yaml`` next to this file).
"""

from lrpo.integrations.openrlhf import LanguageRoutedExecutor as AgentExecutor

__all__ = ["AgentExecutor"]
