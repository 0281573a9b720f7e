"""OpenRLHF 0.11's agent classes, imported once with a clear error, and what lrpo's executors
share: OpenRLHF's own single-turn generator and the label check that names the fix."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
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
    "AgentExecutorBase",
    "AgentInstanceBase",
    "Prompt",
    "single_turn_generator",
    "unpack_openrlhf_label",
]

#: The script that writes OpenRLHF's label column (named in every label error).
PREP_SCRIPT = "recipes/openrlhf/prepare_data.py"
#: How OpenRLHF 0.11 calls an executor (vllm_engine.RolloutRayActor.generate_responses).
_EXECUTE_PARAMS = (
    "prompt",
    "label",
    "sampling_params",
    "max_length",
    "hf_tokenizer",
    "llm_engine",
    "images",
)

#: A prompt as OpenRLHF hands it to an executor: text, or a list of chat messages.
Prompt = str | Sequence[Mapping[str, Any]]


def single_turn_generator() -> SingleTurnAgentExecutor:
    """OpenRLHF's single-turn executor, with no reward endpoint (lrpo's executors score).

    Raises
    ------
    RuntimeError
        When its ``execute`` does not take the arguments of openrlhf 0.11, so that another
        version fails when the engine starts rather than mid-rollout.
    """
    got = tuple(inspect.signature(SingleTurnAgentExecutor.execute).parameters)[1:]
    if got != _EXECUTE_PARAMS:
        raise RuntimeError(
            f"OpenRLHF's SingleTurnAgentExecutor.execute takes {got}, expected "
            f"{_EXECUTE_PARAMS}: lrpo's agent was written for openrlhf 0.11; install "
            "openrlhf==0.11.0"
        )
    return SingleTurnAgentExecutor()


def unpack_openrlhf_label(label: Any) -> PackedLabel:
    """The packed label, or a :class:`LabelError` that names the data-preparation script."""
    if label is None or label == "":
        raise LabelError(
            "the label is empty: OpenRLHF passes an empty label when --data.label_key is not "
            "set; add --data.label_key label (the column that "
            f"{PREP_SCRIPT} writes)"
        )
    try:
        return unpack_label(label)
    except LabelError as error:
        raise LabelError(
            f"{error}. OpenRLHF's label column (--data.label_key) must hold labels packed by "
            f"{PREP_SCRIPT}"
        ) from None
