"""Language-routed samples for OpenRLHF: the agent and the executor behind ``lrpo_agent.py``."""

from __future__ import annotations

import functools
from typing import Any

import torch

from lrpo.labelled.labels import PackedLabel
from lrpo.languages import DirectiveStyle
from lrpo.router_service import Assignment

from ..plugin import RoutedRollouts, group_key
from .base import AgentInstanceBase, Prompt, SingleTurnExecutor, Started, unpack_openrlhf_label

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


class LanguageRoutedExecutor(SingleTurnExecutor):
    """OpenRLHF's single-turn rollout with a routed prompt and lrpo's reward.

    OpenRLHF builds it without arguments in every vLLM engine (settings from ``$LRPO_CONFIG``);
    the router service and the reward are set up at once, so that a missing config, Ray cluster
    or embedder stops the engine at start rather than mid-training.

    Parameters
    ----------
    rollouts : RoutedRollouts, optional
        Default: ``RoutedRollouts.for_process()``.
    """

    def __init__(self, rollouts: RoutedRollouts | None = None) -> None:
        super().__init__()
        self.rollouts = rollouts or RoutedRollouts.for_process()
        _ = (self.rollouts.client, self.rollouts.reward)  # connect and load now, not mid-run

    async def start(self, prompt: Prompt, label: str, hf_tokenizer: Any) -> Started:
        """Route the sample; once generated, score and report it."""
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
