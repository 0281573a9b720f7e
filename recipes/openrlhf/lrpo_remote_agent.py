"""lrpo's rewards from ``lrpo serve`` for OpenRLHF 0.11: pass this file as
``--train.agent_func_path``, instead of ``--reward.remote_url http://...``.

Every vLLM engine loads it and builds ``AgentExecutor()``. Each sample's label is checked
before it is generated, then the sample is scored by the server at ``$LRPO_REWARD_URL``
(``http://HOST:PORT/get_reward``). A request the server refuses (a bad label, a wrong URL)
stops the run at once with the server's message, where OpenRLHF's own HTTP client would
retry it, keep the sample without a reward and crash much later. Nothing is routed.
"""

from lrpo.integrations.openrlhf import RemoteRewardExecutor as AgentExecutor

__all__ = ["AgentExecutor"]
