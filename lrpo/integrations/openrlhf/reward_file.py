"""OpenRLHF's reward file: lrpo's reward of each query, without routing (``lrpo_reward.py``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from lrpo.labelled.labels import LabelError
from lrpo.labelled.scoring import response_from_query

from ..plugin import RoutedRollouts
from .base import unpack_openrlhf_label

__all__ = ["reward_func"]

logger = logging.getLogger(__name__)


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
        unpacked = [unpack_openrlhf_label(label) for label in labels]
    except LabelError as error:
        logger.error("lrpo reward_func: %s", error)
        raise
    responses = [response_from_query(q, p) for q, p in zip(queries, prompts, strict=True)]
    scored = RoutedRollouts.for_process().score_many(responses, unpacked, prompts=list(prompts))
    rewards = torch.tensor(scored.rewards, dtype=torch.float32)
    logs = {key: torch.tensor(v, dtype=torch.float32) for key, v in scored.extra_logs.items()}
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": logs}
