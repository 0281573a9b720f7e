"""Rewards from ``lrpo serve`` for OpenRLHF, stopping at the first refused request
(``lrpo_remote_agent.py``)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp

from .base import (
    PREP_SCRIPT,
    AgentExecutorBase,
    Prompt,
    single_turn_generator,
    unpack_openrlhf_label,
)

__all__ = ["REWARD_URL_ENV", "RemoteRewardError", "RemoteRewardExecutor"]

#: Environment variable with the ``/get_reward`` URL of ``lrpo serve`` (lrpo_remote_agent.py).
REWARD_URL_ENV = "LRPO_REWARD_URL"


class RemoteRewardError(RuntimeError):
    """``lrpo serve`` refused a request, or could not be reached: the run cannot get rewards."""


class RemoteRewardExecutor(AgentExecutorBase):
    """OpenRLHF's single-turn rollout, scored by ``lrpo serve``, stopping the run at the first
    request that cannot succeed.

    OpenRLHF's own HTTP reward client (``--reward.remote_url http://...``) retries a refused
    request five times, then keeps the sample with ``reward=None`` and logs the error at INFO
    level: a run whose labels are all bad (``--data.label_key`` forgotten) crashes much later,
    without its cause. OpenRLHF builds this executor without arguments in every vLLM engine
    (``--train.agent_func_path recipes/openrlhf/lrpo_remote_agent.py``); it checks each
    label before generating and raises at once when the server refuses a request (4xx):
    the trainer stops at its first batch with the server's message. Unreachable servers and
    server errors (5xx) are retried ``retries`` times first.

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
        self._generator = single_turn_generator()  # this class posts

    async def execute(
        self,
        prompt: Prompt,
        label: str,
        sampling_params: Any,
        max_length: int,
        hf_tokenizer: Any,
        llm_engine: Any,
        images: Any = None,
    ) -> dict[str, Any]:
        """Check the label, generate, then score the sample at the server (or raise)."""
        unpack_openrlhf_label(label)  # before generating: a bad label costs no engine time
        output = await self._generator.execute(
            prompt=prompt,
            label=label,
            sampling_params=sampling_params,
            max_length=max_length,
            hf_tokenizer=hf_tokenizer,
            llm_engine=llm_engine,
            images=images,
        )
        query = hf_tokenizer.decode(output["observation_tokens"], skip_special_tokens=False)
        answer = await self._post({"query": [query], "prompts": [prompt], "labels": [label]})
        try:
            reward, score = float(answer["rewards"][0]), float(answer["scores"][0])
            logs = {key: float(values[0]) for key, values in answer["extra_logs"].items()}
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise RemoteRewardError(
                f"{self.url} did not answer in the remote-reward protocol of lrpo serve "
                f"(rewards, scores, extra_logs), got {str(answer)[:200]}"
            ) from None
        output.update(reward=reward, scores=score, extra_logs=logs)
        return output

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
