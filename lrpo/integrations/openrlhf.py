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

Chat templates: the directive belongs inside the user turn, but a prompt that OpenRLHF already
templated (``--data.apply_chat_template``) ends with the assistant header, so text appended to
it would be read as the start of the answer. Prompts should therefore be plain questions (or
chat message lists): the agent rewrites the user turn, then applies the tokenizer's chat
template itself. A prompt that already ends with the template's generation prompt still works
for the appending directive styles (the directive goes in before the assistant header); a
tokenizer without a chat template gets the plain rewritten text (base models).

Why not ``MultiTurnAgentExecutor``: it ignores ``--rollout.max_new_tokens`` (it generates up to
``--data.max_len``), never sets ``truncated``, and hands ``step`` the answer with its special
tokens; generating through ``SingleTurnAgentExecutor`` keeps OpenRLHF's single-turn behaviour.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import torch

try:
    from openrlhf.utils.agent import (
        AgentExecutorBase,
        AgentInstanceBase,
        SingleTurnAgentExecutor,
    )
except ImportError as error:
    raise ImportError(
        f"lrpo's OpenRLHF integration needs openrlhf 0.11 ({error}); install it in the "
        "trainer's environment: pip install openrlhf==0.11.0"
    ) from error

from lrpo.labelled.labels import LabelError, PackedLabel, unpack_label
from lrpo.labelled.scoring import response_from_query
from lrpo.languages import DirectiveStyle
from lrpo.router_service import Assignment

from .plugin import RoutedRollouts, group_key

__all__ = [
    "REWARD_URL_ENV",
    "LanguageRoutedAgent",
    "LanguageRoutedExecutor",
    "RemoteRewardError",
    "RemoteRewardExecutor",
    "render_prompt",
    "reward_func",
]

#: Environment variable with the ``/get_reward`` URL of ``lrpo serve`` (lrpo_remote_agent.py).
REWARD_URL_ENV = "LRPO_REWARD_URL"

logger = logging.getLogger(__name__)

_PREP_SCRIPT = "recipes/openrlhf/prepare_data.py"
# How OpenRLHF 0.11 calls an executor (vllm_engine.RolloutRayActor.generate_responses).
_EXECUTE_PARAMS = (
    "prompt", "label", "sampling_params", "max_length", "hf_tokenizer", "llm_engine", "images",
)  # fmt: skip
_PROBE = "LRPO_TEMPLATE_PROBE"

Prompt = str | Sequence[Mapping[str, Any]]


def _unpack(label: Any) -> PackedLabel:
    """The packed label, or a :class:`LabelError` that names the data-preparation script."""
    if label is None or label == "":
        raise LabelError(
            "the label is empty: OpenRLHF passes an empty label when --data.label_key is not "
            "set; add --data.label_key label (the column that "
            f"{_PREP_SCRIPT} writes)"
        )
    try:
        return unpack_label(label)
    except LabelError as error:
        raise LabelError(
            f"{error}. OpenRLHF's label column (--data.label_key) must hold labels packed by "
            f"{_PREP_SCRIPT}"
        ) from None


@functools.lru_cache(maxsize=4)
def _generation_prompt(tokenizer: Any) -> str | None:
    """What the chat template puts after a user turn (the assistant header), if it has one;
    rendered once per tokenizer, not once per sample."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": _PROBE}], tokenize=False, add_generation_prompt=True
    )
    tail = text.partition(_PROBE)[2]
    return tail or None


def render_prompt(
    prompt: Prompt, assignment: Assignment, rollouts: RoutedRollouts, tokenizer: Any
) -> str:
    """The text the engine generates from: the prompt asking for the assigned language.

    Plain questions and message lists are rewritten, then chat-templated with a generation
    prompt; a prompt already templated gets the directive before its assistant header; with no
    chat template, plain text is rewritten as is.

    Examples
    --------
    >>> from lrpo.integrations.plugin import PluginConfig
    >>> config = PluginConfig.model_validate({"router": {"languages": ["de", "sw"],
    ...     "num_rollouts": 2, "num_on_policy": 1}, "service": {"groups_per_step": 1}})
    >>> swahili = Assignment(ticket="q#0", slot=1, language="sw", prompt_language="de", step=0)
    >>> render_prompt("Wie viel?", swahili, RoutedRollouts(config), tokenizer=None)
    'Wie viel?\\n<|out_lang_sw|>'
    """
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        if not isinstance(prompt, str):
            raise ValueError(
                "a chat prompt (a list of messages) needs a tokenizer with a chat template; "
                "use plain-text prompts for a model without one"
            )
        return rollouts.rewrite(prompt, assignment)
    tail = _generation_prompt(tokenizer)
    if isinstance(prompt, str) and tail is not None and prompt.endswith(tail):
        if not assignment.routed:
            return prompt
        if rollouts.config.directive is DirectiveStyle.SYSTEM:
            raise ValueError(
                "directive 'system' cannot be added to a prompt OpenRLHF already chat-templated: "
                "drop --data.apply_chat_template (the agent applies the template itself) or use "
                "another directive style"
            )
        return rollouts.rewrite(prompt[: len(prompt) - len(tail)], assignment) + tail
    chat = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return tokenizer.apply_chat_template(
        rollouts.rewrite(chat, assignment), tokenize=False, add_generation_prompt=True
    )


class LanguageRoutedAgent(AgentInstanceBase):
    """One sample: its language from the router service, its prompt rewritten, its answer scored.

    ``reset`` and ``step`` follow OpenRLHF's agent protocol (``step`` returns ``rewards`` as a
    tensor, ``done=True`` after the single turn); :class:`LanguageRoutedExecutor` drives them.

    Parameters
    ----------
    rollouts : RoutedRollouts
        The router client, prompt rewriting and reward of this process.
    tokenizer : transformers tokenizer, optional
        Its chat template is applied after the rewrite (see :func:`render_prompt`).
    """

    def __init__(self, rollouts: RoutedRollouts, tokenizer: Any = None) -> None:
        self.rollouts = rollouts
        self.tokenizer = tokenizer
        self.prompt: Prompt | None = None
        self.label: PackedLabel | None = None
        self.assignment: Assignment | None = None

    async def reset(self, states: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Route this sample and return the rewritten prompt as ``observation``.

        Raises
        ------
        LabelError
            When the label is not packed JSON or names an unknown language.
        lrpo.router_service.RouterServiceUnavailable
            When the router service does not answer within its timeout.
        """
        prompt, label = states["observation"], _unpack(states["label"])
        assignment = await self.rollouts.assign(group_key(prompt, label), label)
        self.prompt, self.label, self.assignment = prompt, label, assignment
        observation = render_prompt(prompt, assignment, self.rollouts, self.tokenizer)
        return {**states, "observation": observation}

    async def step(self, states: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Score ``action_text`` in the assigned language and report the reward to the router."""
        if self.assignment is None or self.label is None:
            raise RuntimeError("LanguageRoutedAgent.step called before reset")
        reward, logs = await self.rollouts.score(
            states["action_text"], self.label, self.assignment, prompt=self.prompt
        )
        await self.rollouts.report(self.assignment, reward)
        # One key per router language: OpenRLHF averages each over the batch's samples, so
        # lrpo/share/<lang> is the share of rollouts asked to answer in <lang>.
        language = self.assignment.language
        shares = {
            f"lrpo/share/{code}": float(code == language)
            for code in self.rollouts.config.router.languages
        }
        value = torch.tensor(reward)
        return {
            "rewards": value,
            "scores": value,
            "environment_feedback": "",
            "done": True,
            "sampling_params": states.get("sampling_params"),
            "extra_logs": {**logs, **shares},
        }


class LanguageRoutedExecutor(AgentExecutorBase):
    """OpenRLHF's single-turn rollout with a routed prompt and lrpo's reward.

    OpenRLHF constructs it without arguments in every vLLM engine
    (``--train.agent_func_path``): the settings then come from ``$LRPO_CONFIG``, and the router
    service and the reward are set up at once, so that a missing config, an unreachable Ray
    cluster or a missing embedder stops the engine at start rather than mid-training.

    Parameters
    ----------
    rollouts : RoutedRollouts, optional
        Default: ``RoutedRollouts.for_process()``.
    """

    def __init__(self, rollouts: RoutedRollouts | None = None) -> None:
        got = tuple(inspect.signature(SingleTurnAgentExecutor.execute).parameters)[1:]
        if got != _EXECUTE_PARAMS:
            raise RuntimeError(
                f"OpenRLHF's SingleTurnAgentExecutor.execute takes {got}, expected "
                f"{_EXECUTE_PARAMS}: lrpo's agent was written for openrlhf 0.11; install "
                "openrlhf==0.11.0"
            )
        self.rollouts = rollouts or RoutedRollouts.for_process()
        _ = (self.rollouts.client, self.rollouts.reward)  # connect and load now, not mid-run
        self._generator = SingleTurnAgentExecutor()  # no reward endpoint: the agent scores

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
        """Route, generate, score and report one sample; OpenRLHF's rollout dict."""
        agent = LanguageRoutedAgent(self.rollouts, hf_tokenizer)
        state = await agent.reset({"observation": prompt, "label": label})
        output = await self._generator.execute(
            prompt=state["observation"],
            label=label,
            sampling_params=sampling_params,
            max_length=max_length,
            hf_tokenizer=hf_tokenizer,
            llm_engine=llm_engine,
            images=images,
        )
        start, end = output["action_ranges"][0]
        answer = hf_tokenizer.decode(output["observation_tokens"][start:end],
                                     skip_special_tokens=True)  # fmt: skip
        result = await agent.step({
            "observation_text": state["observation"],
            "action_text": answer,
            "label": label,
            "sampling_params": sampling_params,
        })  # fmt: skip
        # The original prompt, so that OpenRLHF's eval metrics find its datasource.
        output.update(prompt=prompt, reward=result["rewards"].item(),
                      scores=result["scores"].item(), extra_logs=result["extra_logs"])  # fmt: skip
        return output


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
        self._generator = SingleTurnAgentExecutor()  # no reward endpoint: this class posts

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
        _unpack(label)  # before generating: a bad label costs no engine time
        output = await self._generator.execute(
            prompt=prompt, label=label, sampling_params=sampling_params, max_length=max_length,
            hf_tokenizer=hf_tokenizer, llm_engine=llm_engine, images=images,
        )  # fmt: skip
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
                    f"Labels must be packed by {_PREP_SCRIPT} and named by --data.label_key; "
                    f"{REWARD_URL_ENV} must end with /get_reward"
                )
            problem = f"answered {response.status}: {detail}"
        raise RemoteRewardError(
            f"lrpo serve at {self.url} failed {self.retries + 1} times (last: {problem}): check "
            f"that it is running and reachable from the engines, and {REWARD_URL_ENV}"
        )


def reward_func(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """OpenRLHF's reward-file function: lrpo's reward of each query, no routing.

    ``queries[i]`` is the decoded prompt and response, ``labels[i]`` a packed label; the
    requested language is the label's ``requested``, else the prompt's own. Returns tensors of
    one value per query (``rewards``, ``scores`` and every ``extra_logs`` entry), as OpenRLHF's
    executor reads them.

    Raises
    ------
    LabelError
        For a label that is not packed JSON. OpenRLHF catches exceptions of reward files and
        logs them at INFO level only, so the error is logged here as well.
    """
    try:
        unpacked = [_unpack(label) for label in labels]
    except LabelError as error:
        logger.error("lrpo reward_func: %s", error)
        raise
    responses = [response_from_query(q, p) for q, p in zip(queries, prompts, strict=True)]
    scored = RoutedRollouts.for_process().score_many(responses, unpacked, prompts=list(prompts))
    rewards = torch.tensor(scored.rewards, dtype=torch.float32)
    logs = {key: torch.tensor(v, dtype=torch.float32) for key, v in scored.extra_logs.items()}
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": logs}
