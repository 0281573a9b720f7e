"""OpenRLHF 0.11's agent classes, imported once with a clear error, and what lrpo's executors
share: OpenRLHF's own single-turn generation and the label check that names the fix."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

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

__all__ = [
    "PREP_SCRIPT",
    "AgentInstanceBase",
    "Prompt",
    "SingleTurnExecutor",
    "unpack_openrlhf_label",
]

#: The script that writes OpenRLHF's label column (named in every label error).
PREP_SCRIPT = "recipes/openrlhf/prepare_data.py"
#: A prompt as OpenRLHF hands it to an executor: text, or a list of chat messages.
Prompt = str | Sequence[Mapping[str, Any]]
#: :meth:`SingleTurnExecutor.start`'s text to generate from, and what finishes OpenRLHF's output.
Started = tuple[Any, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]]


class SingleTurnExecutor(AgentExecutorBase):
    """OpenRLHF's single-turn rollout (``SingleTurnAgentExecutor``, with no reward endpoint)
    between :meth:`start` and the finishing step it returns, which score the sample. Another
    openrlhf than 0.11 raises when the engine starts rather than mid-rollout."""

    def __init__(self) -> None:
        # OpenRLHF 0.11 calls executors (and lrpo calls its executor) as execute is declared here
        got, expected = (
            tuple(inspect.signature(cls.execute).parameters)[1:]
            for cls in (SingleTurnAgentExecutor, SingleTurnExecutor)
        )
        if got != expected:
            raise RuntimeError(
                f"OpenRLHF's SingleTurnAgentExecutor.execute takes {got}, expected "
                f"{expected}: lrpo's agent was written for openrlhf 0.11; install "
                "openrlhf==0.11.0"
            )
        self._generator = SingleTurnAgentExecutor()

    async def start(
        self, prompt: Prompt, label: str, sampling_params: Any, hf_tokenizer: Any
    ) -> Started:
        """Check or route the sample before generating; see :data:`Started`.

        ``sampling_params`` is the one object OpenRLHF hands every sample of a prompt's call."""
        raise NotImplementedError

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
        """OpenRLHF's rollout dict of one sample, generated and scored."""
        text, finish = await self.start(prompt, label, sampling_params, hf_tokenizer)
        output = await self._generator.execute(
            text, label, sampling_params, max_length, hf_tokenizer, llm_engine, images
        )
        output.update(await finish(output))
        return output


def unpack_openrlhf_label(label: Any) -> PackedLabel:
    """The packed label, or a :class:`LabelError` that names the data-preparation script."""
    if label is None or label == "":
        raise LabelError(
            "the label is empty: OpenRLHF passes an empty label when --data.label_key is not "
            f"set; add --data.label_key label (the column that {PREP_SCRIPT} writes)"
        )
    try:
        return unpack_label(label)
    except LabelError as error:
        raise LabelError(
            f"{error}. OpenRLHF's label column (--data.label_key) must hold labels packed by "
            f"{PREP_SCRIPT}"
        ) from None
