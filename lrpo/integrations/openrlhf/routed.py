"""Language-routed samples for OpenRLHF: the agent and the executor behind ``lrpo_agent.py``."""

from __future__ import annotations

from typing import Any

import torch

from lrpo.labelled.labels import PackedLabel
from lrpo.router_service import Assignment

from ..plugin import RoutedRollouts, group_key
from .base import (
    AgentExecutorBase,
    AgentInstanceBase,
    Prompt,
    single_turn_generator,
    unpack_openrlhf_label,
)
from .prompts import render_prompt

__all__ = ["LanguageRoutedAgent", "LanguageRoutedExecutor"]


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
        self._generator = single_turn_generator()  # the agent scores
        self.rollouts = rollouts or RoutedRollouts.for_process()
        _ = (self.rollouts.client, self.rollouts.reward)  # connect and load now, not mid-run

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
        answer = hf_tokenizer.decode(
            output["observation_tokens"][start:end], skip_special_tokens=True
        )
        result = await agent.step(
            {
                "observation_text": state["observation"],
                "action_text": answer,
                "label": label,
                "sampling_params": sampling_params,
            }
        )
        # The original prompt, so that OpenRLHF's eval metrics find its datasource.
        output.update(
            prompt=prompt,
            reward=result["rewards"].item(),
            scores=result["scores"].item(),
            extra_logs=result["extra_logs"],
        )
        return output
