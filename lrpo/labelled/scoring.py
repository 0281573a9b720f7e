"""Rewards of rollouts whose context travels in packed labels, in the remote-reward protocol of
OpenRLHF (``rewards``, ``scores``, ``extra_logs``): every file-based integration scores so, with
either reward a config chooses (:data:`~lrpo.rewards.choice.RewardConfig`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lrpo.rewards import SemanticReward, WalarReward

from .labels import PackedLabel, unpack_label

__all__ = ["ScoredRollouts", "response_from_query", "score_labelled"]

# End-of-turn tokens a decoded query ends with (<|im_end|>, <|eot_id|>, </s>, <end_of_turn>, ...).
_TRAILING_SPECIAL = re.compile(r"(?:\s*(?:<\|[^<>|\s]+\|>|</s>|<eos>|<end_of_turn>))+\s*$")


@dataclass(frozen=True)
class ScoredRollouts:
    """Rewards of a batch and the per-item values worth logging (JSON-safe: no NaN)."""

    rewards: np.ndarray
    extra_logs: dict[str, list[float]]

    def response(self) -> dict[str, object]:
        """The remote-reward protocol's answer; ``scores`` repeats the rewards."""
        rewards = self.rewards.tolist()
        return {"rewards": rewards, "scores": rewards, "extra_logs": self.extra_logs}

    def item(self, i: int) -> tuple[float, dict[str, float]]:
        """Reward and logs of item ``i`` (the per-sample shape OpenRLHF's agents return)."""
        return float(self.rewards[i]), {k: v[i] for k, v in self.extra_logs.items()}


def score_labelled(
    reward: SemanticReward | WalarReward,
    responses: Sequence[str],
    labels: Sequence[str | PackedLabel],
    *,
    requested: Sequence[str | None] | None = None,
    prompts: Sequence[str] | None = None,
) -> ScoredRollouts:
    """Score responses against the references of their packed labels.

    Item ``i`` is asked for ``requested[i]``, else the label's ``requested``, else the prompt's
    language; its reference is in the label's ``reference_language``, else the prompt's. For
    WALAR's reward the reference is the source sentence (a label without one scores 0, counted
    as ``walar/no_source_rate``), and the prompts are not needed.

    Parameters
    ----------
    reward : SemanticReward or WalarReward
        What scores the responses.
    responses, labels : sequence
        The answers and their packed labels (str or PackedLabel), one per item.
    requested : sequence of str or None, optional
        Each item's assigned language (None: the label's).
    prompts : sequence, optional
        Each item's prompt, for the guards against copying it.

    Returns
    -------
    ScoredRollouts
        Rewards (NaN as 0) and the per-item values worth logging (``lrpo/*``; WALAR's
        :meth:`~lrpo.rewards.WalarBreakdown.extra_logs`). A bad label raises
        :class:`~lrpo.labelled.labels.LabelError`.

    Examples
    --------
    >>> from lrpo.labelled.labels import pack_label
    >>> label = pack_label(language="de", reference="The cat sleeps.", reference_language="en")
    >>> unpack_label(label).reference  # the semantic reward's reference, WALAR's source
    'The cat sleeps.'
    """
    if len(labels) != len(responses):
        raise ValueError(f"got {len(labels)} labels for {len(responses)} responses")
    if requested is not None and len(requested) != len(responses):
        raise ValueError(f"got {len(requested)} requested languages for {len(responses)} responses")
    unpacked = [unpack_label(label) for label in labels]
    asked = [
        (requested[i] if requested is not None else None) or label.requested or label.language
        for i, label in enumerate(unpacked)
    ]
    references = [label.reference for label in unpacked]
    if isinstance(reward, WalarReward):
        walar = reward.score(list(responses), references, asked)
        return ScoredRollouts(np.nan_to_num(walar.reward, nan=0.0), walar.extra_logs())
    breakdown = reward.score(
        list(responses),
        references,
        asked,
        prompts=prompts,
        ref_langs=[label.reference_language or label.language for label in unpacked],
    )
    guarded = breakdown.guard != ""
    extra_logs = {
        "lrpo/similarity": _finite(breakdown.raw),
        "lrpo/calibrated": _finite(breakdown.calibrated),
        "lrpo/gate": _finite(breakdown.gate),
        "lrpo/guarded": guarded.astype(float).tolist(),
        "lrpo/routed": [float(a != u.language) for a, u in zip(asked, unpacked, strict=True)],
    }
    return ScoredRollouts(rewards=np.nan_to_num(breakdown.reward, nan=0.0), extra_logs=extra_logs)


def response_from_query(query: str, prompt: str) -> str:
    """The answer in an OpenRLHF reward query (``lrpo serve`` and the reward file get these):
    the decoded prompt and response, without the prompt and trailing end-of-turn tokens.

    Examples
    --------
    >>> response_from_query("<|im_start|>user\\nHi<|im_end|>\\nHallo!<|im_end|>",
    ...                     "<|im_start|>user\\nHi<|im_end|>\\n")
    'Hallo!'
    """
    answer = query[len(prompt) :] if query.startswith(prompt) else query
    return _TRAILING_SPECIAL.sub("", answer)


def _finite(values: np.ndarray) -> list[float]:
    return np.nan_to_num(values.astype(np.float64), nan=0.0).tolist()
