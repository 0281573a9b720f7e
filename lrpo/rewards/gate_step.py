"""The gate and composition step of the semantic reward.

Each live completion is judged in its requested language, without lrpo's own directive texts
and special tokens: a completion that repeats "Answer in German." has not written German.
Without a gate every live item gets the value 1. The reward composes quality and gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .directives import without_directives
from .semantic_config import SemanticRewardConfig

__all__ = ["GateColumns", "compose", "gate_items"]


@dataclass(frozen=True)
class GateColumns:
    """The gate's outcome per item, shape (n,): None, ``""`` or NaN where not gated."""

    detected: np.ndarray
    reason: np.ndarray
    confidence: np.ndarray
    script_share: np.ndarray
    value: np.ndarray


def gate_items(
    gate: Any, texts: list[Any], requested: np.ndarray, alive: np.ndarray
) -> GateColumns:
    """Gate the ``alive`` items of a batch of ``len(texts)``.

    Parameters
    ----------
    gate : LanguageGate or None
        Anything with ``check(texts, requested)``; None: no gate.
    texts : list, shape (n,)
        The completions' texts (``str`` at the ``alive`` positions).
    requested : numpy.ndarray of object, shape (n,)
        Requested language per item.
    alive : numpy.ndarray of int
        The items no guard has named.

    Returns
    -------
    GateColumns
    """
    n = len(texts)
    detected = np.full(n, None, dtype=object)
    reason = np.full(n, "", dtype=object)
    confidence, share, value = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if gate is None:
        value[alive] = 1.0
    elif alive.size:
        codes = requested[alive].tolist()
        live = [without_directives(texts[i], code) for i, code in zip(alive, codes, strict=True)]
        result = gate.check(live, codes)
        detected[alive] = np.asarray(result.detected, dtype=object)
        reason[alive] = np.asarray(result.reason, dtype=object)
        confidence[alive] = result.confidence
        share[alive] = result.script_share
        value[alive] = result.value
    return GateColumns(detected, reason, confidence, share, value)


def compose(quality: np.ndarray, gate: np.ndarray, config: SemanticRewardConfig) -> np.ndarray:
    """``R = q * g`` (``composition="gate"``, LRPO) or ``lambda_sim q + lambda_lang g``.

    Examples
    --------
    >>> config = SemanticRewardConfig(composition="weighted")
    >>> compose(np.array([0.5]), np.array([1.0]), config).tolist()
    [1.75]
    """
    if config.composition == "gate":
        return quality * gate
    return config.lambda_sim * quality + config.lambda_lang * gate
