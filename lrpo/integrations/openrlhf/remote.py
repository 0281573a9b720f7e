"""lrpo's rewards for OpenRLHF without routing: from ``lrpo serve`` over HTTP, stopping at the
first refused request (``lrpo_remote_agent.py``), or in the reward file (``lrpo_reward.py``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

import aiohttp
import torch

from lrpo.labelled.scoring import response_from_query

from ..plugin import RoutedRollouts
from .base import PREP_SCRIPT, Prompt, SingleTurnExecutor, Started, unpack_openrlhf_label

__all__ = [
    "REWARD_URL_ENV",
    "RemoteRewardError",
    "RemoteRewardExecutor",
    "prepare_reward_func",
    "reward_func",
]

logger = logging.getLogger(__name__)

#: Environment variable with the ``/get_reward`` URL of ``lrpo serve`` (lrpo_remote_agent.py).
REWARD_URL_ENV = "LRPO_REWARD_URL"


class RemoteRewardError(RuntimeError):
    """``lrpo serve`` refused a request, or could not be reached: the run cannot get rewards."""


class RemoteRewardExecutor(SingleTurnExecutor):
    """OpenRLHF's single-turn rollout, scored by ``lrpo serve``, stopping the run at the first
    request that cannot succeed.

    OpenRLHF's own HTTP client keeps a refused sample with ``reward=None``, logging why at INFO
    only, so a run of bad labels crashes much later. This executor checks each label before
    generating and raises at once on a 4xx answer; failures to connect and 5xx are retried.

    Parameters
    ----------
    url : str, optional
        The server's ``/get_reward`` URL; default ``$LRPO_REWARD_URL``.
    retries : int
        Further attempts after a connection error or a 5xx answer.
    retry_wait_s : float
        Wait between attempts.
    timeout_s : float
        Longest wait for one answer (OpenRLHF's client waits 180 s).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        retries: int = 4,
        retry_wait_s: float = 1.0,
        timeout_s: float = 180.0,
    ) -> None:
        url = url or os.environ.get(REWARD_URL_ENV)
        if not url or not url.startswith(("http://", "https://")):
            raise ValueError(
                f"lrpo_remote_agent.py needs the URL of lrpo serve: set {REWARD_URL_ENV}="
                "http://HOST:PORT/get_reward in the environment of every vLLM engine (Ray's "
                f"runtime_env env_vars), got {url!r}"
            )
        self.url, self.retries, self.retry_wait_s = url, retries, retry_wait_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        super().__init__()

    async def start(
        self, prompt: Prompt, label: str, sampling_params: Any, hf_tokenizer: Any
    ) -> Started:
        """Check the label (a bad one costs no engine time); once generated, score the sample
        at the server (or raise)."""
        unpack_openrlhf_label(label)

        async def finish(output: dict[str, Any]) -> dict[str, Any]:
            query = hf_tokenizer.decode(output["observation_tokens"], skip_special_tokens=False)
            body = {"query": [query], "prompts": [prompt], "labels": [label]}
            answer = await self._post(body)
            try:
                reward, score = float(answer["rewards"][0]), float(answer["scores"][0])
                logs = {key: float(values[0]) for key, values in answer["extra_logs"].items()}
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                raise RemoteRewardError(
                    f"{self.url} did not answer in the remote-reward protocol of lrpo serve "
                    f"(rewards, scores, extra_logs), got {str(answer)[:200]}"
                ) from None
            return {"reward": reward, "scores": score, "extra_logs": logs}

        return prompt, finish

    async def _post(self, body: dict[str, list]) -> Any:
        """The server's JSON answer; a 4xx raises at once, other failures after retries."""
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_wait_s)
            try:
                async with (
                    aiohttp.ClientSession(timeout=self._timeout) as session,
                    session.post(self.url, json=body) as response,
                ):
                    if response.status < 400:
                        return await response.json()
                    detail = (await response.text())[:500]
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = f"{type(error).__name__}: {error}"
                continue
            if response.status < 500:
                raise RemoteRewardError(
                    f"lrpo serve at {self.url} refused a request ({response.status}): {detail}. "
                    f"Labels must be packed by {PREP_SCRIPT} and named by --data.label_key; "
                    f"{REWARD_URL_ENV} must end with /get_reward"
                )
            problem = f"answered {response.status}: {detail}"
        raise RemoteRewardError(
            f"lrpo serve at {self.url} failed {self.retries + 1} times (last: {problem}): check "
            f"that it is running and reachable from the engines, and {REWARD_URL_ENV}"
        )


def prepare_reward_func() -> None:
    """Load the plugin config and the reward now. ``lrpo_reward.py`` calls this when OpenRLHF
    loads it at engine start, so that a missing ``$LRPO_CONFIG`` or model stops the engine
    there: an error in :func:`reward_func` is caught by OpenRLHF, which logs it at INFO and keeps
    the sample without a reward."""
    _ = RoutedRollouts.for_process().reward


def reward_func(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """OpenRLHF's reward-file function: lrpo's reward of each query, no routing.

    ``queries[i]`` is the decoded prompt and response, ``labels[i]`` a packed label; the
    requested language is the label's ``requested``, else the prompt's own (WALAR's reward:
    the target language, with the source sentence in the label's ``reference``). Returns
    tensors of one value per query (``rewards``, ``scores`` and every ``extra_logs`` entry).

    Raises
    ------
    LabelError
        For a label that is not packed JSON. Every error is also logged at ERROR level
        (OpenRLHF catches it and logs it at INFO only).
    """
    try:
        unpacked = [unpack_openrlhf_label(label) for label in labels]
        responses = [response_from_query(q, p) for q, p in zip(queries, prompts, strict=True)]
        rollouts = RoutedRollouts.for_process()
        scored = rollouts.score_many(responses, unpacked, prompts=list(prompts))
    except Exception as error:  # logged here too: OpenRLHF logs it at INFO only
        logger.error("lrpo reward_func: %s: %s", type(error).__name__, error)
        raise
    rewards = torch.tensor(scored.rewards, dtype=torch.float32)
    logs = {key: torch.tensor(v, dtype=torch.float32) for key, v in scored.extra_logs.items()}
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": logs}
