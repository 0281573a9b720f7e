"""The text an engine generates from: the prompt rewritten for its language, chat-templated.

The directive belongs inside the user turn, but a prompt that OpenRLHF already templated
(``--data.apply_chat_template``) ends with the assistant header, so text appended to it would
be read as the start of the answer. Prompts should therefore be plain questions (or chat
message lists): the agent rewrites the user turn, then applies the tokenizer's chat template
itself. A prompt that already ends with the template's generation prompt still works for the
appending directive styles (the directive goes in before the assistant header); a tokenizer
without a chat template gets the plain rewritten text (base models).
"""

from __future__ import annotations

import functools
from typing import Any

from lrpo.languages import DirectiveStyle
from lrpo.router_service import Assignment

from ..plugin import RoutedRollouts
from .base import Prompt

__all__ = ["render_prompt"]

_PROBE = "LRPO_TEMPLATE_PROBE"


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
