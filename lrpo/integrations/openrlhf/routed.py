"""Language-routed samples for OpenRLHF: the agent and the executor behind ``lrpo_agent.py``."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

import torch

from lrpo.labelled.labels import PackedLabel
from lrpo.languages import DirectiveStyle
from lrpo.router_service import Assignment, GroupMismatchError

from ..plugin import RoutedRollouts, group_key
from .base import (
    PREP_SCRIPT,
    AgentInstanceBase,
    Prompt,
    SingleTurnExecutor,
    Started,
    unpack_openrlhf_label,
)

__all__ = ["LanguageRoutedAgent", "LanguageRoutedExecutor", "render_prompt"]

_PROBE = "LRPO_TEMPLATE_PROBE"


@functools.lru_cache(maxsize=4)
def _generation_prompt(tokenizer: Any) -> str | None:
    """What the chat template puts after a user turn (the assistant header), if anything;
    rendered once per tokenizer, not once per sample."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": _PROBE}], tokenize=False, add_generation_prompt=True
    )
    return text.partition(_PROBE)[2] or None


def render_prompt(
    prompt: Prompt, assignment: Assignment, rollouts: RoutedRollouts, tokenizer: Any
) -> str:
    """The text the engine generates from: the prompt asking for the assigned language.

    The directive belongs in the user turn, not after the assistant header that ends a prompt
    OpenRLHF already templated, so plain questions and message lists are rewritten, then
    chat-templated; a templated prompt gets the directive before its assistant header; with no
    chat template (base models), plain text is rewritten as is.

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

    ``reset`` and ``step`` follow OpenRLHF's agent protocol (``done=True`` after one turn).

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
        """Route this sample and return the rewritten prompt as ``observation``; raises
        ``LabelError`` for a bad label, ``RouterServiceUnavailable`` when the service is down."""
        prompt, label = states["observation"], unpack_openrlhf_label(states["label"])
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


@dataclass
class _Call:
    joined: int = 0  # executions that joined the call
    counted: int = 0  # of them, those that have read its size


class _PromptCalls:
    """How many samples of its prompt each running OpenRLHF call in this engine generates.

    OpenRLHF tells an executor neither the number nor the call. ``generate_responses`` starts
    one execution per sample, all at once (``asyncio.gather``), and hands them one
    ``sampling_params`` object, which Ray unpickles afresh for every call: the executions
    holding the same object are one prompt's samples. They all join in one event-loop turn, so
    each knows their number a turn later. (An OpenRLHF that copied the object per sample would
    make every call look like one sample: refused, never silently misrouted.)
    """

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}  # by id(sampling_params), while its call runs

    async def size(self, sampling_params: Any) -> int:
        """The number of executions sharing ``sampling_params``; an execution must await this
        before anything else that suspends it, so that it joins in its first turn."""
        key = id(sampling_params)
        call = self._calls.setdefault(key, _Call())
        call.joined += 1
        try:
            await asyncio.sleep(0)  # the other samples of the call join in this turn
        finally:  # a cancelled execution counts too, so that the entry is always dropped
            call.counted += 1
            if call.counted == call.joined:
                del self._calls[key]  # the object's id may be reused once the call is over
        return call.joined


class LanguageRoutedExecutor(SingleTurnExecutor):
    """OpenRLHF's single-turn rollout with a routed prompt and lrpo's reward.

    OpenRLHF builds it without arguments in every vLLM engine (settings from ``$LRPO_CONFIG``);
    the router service and the reward are set up at once, so that a missing config, Ray cluster
    or embedder stops the engine at start rather than mid-training. A config with
    ``service.backend: local`` is refused there: each engine would own a router of its own.
    A routed prompt generated another number of times than ``router.num_rollouts`` (K) is
    refused before anything is routed: its groups would never complete, or complete with the
    samples of several prompts.

    Parameters
    ----------
    rollouts : RoutedRollouts, optional
        Default: ``RoutedRollouts.for_process()``.
    """

    def __init__(self, rollouts: RoutedRollouts | None = None) -> None:
        super().__init__()
        self.rollouts = rollouts or RoutedRollouts.for_process()
        if self.rollouts.config.service.backend != "ray":
            raise ValueError(
                f"service.backend is {self.rollouts.config.service.backend!r}: every vLLM "
                "engine loads lrpo_agent.py in a process of its own, so each would own a router "
                "that learns from its share of the prompts alone; set service.backend: ray in "
                "the plugin config (one router actor for every engine, also for one engine)"
            )
        _ = (self.rollouts.client, self.rollouts.reward)  # connect and load now, not mid-run
        self._calls = _PromptCalls()

    async def start(
        self, prompt: Prompt, label: str, sampling_params: Any, hf_tokenizer: Any
    ) -> Started:
        """Route the sample; once generated, score and report it."""
        if unpack_openrlhf_label(label).route:
            self._check_samples(await self._calls.size(sampling_params))
        agent = LanguageRoutedAgent(self.rollouts, hf_tokenizer)
        text = (await agent.reset({"observation": prompt, "label": label}))["observation"]

        async def finish(output: dict[str, Any]) -> dict[str, Any]:
            start, end = output["action_ranges"][0]
            answer = hf_tokenizer.decode(
                output["observation_tokens"][start:end], skip_special_tokens=True
            )
            states = {"observation_text": text, "action_text": answer, "label": label}
            result = await agent.step(states)
            # The original prompt, so that OpenRLHF's eval metrics find its datasource.
            return {
                "prompt": prompt,
                "reward": result["rewards"].item(),
                "scores": result["scores"].item(),
                "extra_logs": result["extra_logs"],
            }

        return text, finish

    def _check_samples(self, samples: int) -> None:
        """Refuse a routed prompt that OpenRLHF generates another number of times than K."""
        k = self.rollouts.config.router.num_rollouts
        if samples != k:
            raise GroupMismatchError(
                f"OpenRLHF generates {samples} samples of this prompt, but the router plans "
                f"groups of router.num_rollouts = {k}: set --rollout.n_samples_per_prompt {k} "
                f"(or router.num_rollouts: {samples}). Evaluation prompts are generated "
                "--eval.n_samples_per_prompt times and must not be routed: prepare evaluation "
                f"sets with {PREP_SCRIPT} --eval"
            )
