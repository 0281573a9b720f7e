"""Settings (:class:`WalarRewardConfig`) and per-rollout output (:class:`WalarBreakdown`) of
:class:`~lrpo.rewards.WalarReward`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .alignment_config import AlignmentConfig
from .gate_config import GateConfig

__all__ = ["WALAR_GATE", "WALAR_REASONS", "WalarBreakdown", "WalarRewardConfig"]

#: Values of ``WalarBreakdown.reason``; every rollout gets the first that applies. ``no_source``
#: and ``no_text`` (an item that is not text) and ``qe_nan`` give a NaN reward (TRL's "no
#: score"); ``gated`` gives the gate's mismatch reward; ``scored`` the WALAR formula.
WALAR_REASONS = ("no_source", "no_text", "gated", "qe_nan", "scored")

#: WALAR's language gate: nothing added on a pass, -25 (MetricX's worst score) on a failure.
WALAR_GATE = {"mode": "additive", "match_reward": 0.0, "mismatch_reward": -25.0}


class WalarRewardConfig(BaseModel):
    """Settings of a :class:`~lrpo.rewards.WalarReward`, checked at construction.

    The defaults are WALAR's: MetricX-24 hybrid XXL (bfloat16) as QE, ``alpha = 20``, -25 for a
    rollout not in its target language. A ``gate`` given as a dict keeps WALAR's gate values
    for the keys it does not name.

    Examples
    --------
    >>> config = WalarRewardConfig(gate={"candidates": ["de", "en"]})
    >>> config.alpha, config.gate.mode, config.gate.mismatch_reward
    (20.0, 'additive', -25.0)
    """

    # allow_inf_nan=False: a NaN or infinite number is refused with the field's name.
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )

    # ---------------------------------------------------------------- choice
    kind: Literal["walar"] = "walar"
    """Names this reward where a config chooses one (``reward: {kind: walar, ...}`` in a plugin
    or ``lrpo serve`` config)."""
    # ------------------------------------------------------ quality estimation
    qe_model: str = "google/metricx-24-hybrid-xxl-v2p6-bfloat16"
    """MetricX-24 checkpoint (hub id or local directory); ``...-large-v2p6`` is the fast one.
    Unused when a QE scorer is passed in."""
    qe_tokenizer: str = "google/mt5-xl"
    """Tokenizer of the MetricX checkpoint (hub id or local directory)."""
    qe_batch_size: int = Field(8, ge=1)
    """Pairs per MetricX forward pass."""
    qe_max_length: int = Field(1536, ge=2)
    """Tokens of MetricX's input text (MetricX-24 was trained on 1536); longer is cut."""
    qe_device: str | None = None
    """Torch device of MetricX; None: cuda when available, else cpu."""
    # ------------------------------------------------------------ composition
    alpha: float = Field(20.0, ge=0.0)
    """Weight of the word-alignment F1: ``R = -QE + alpha * F1`` in the target language."""
    # ------------------------------------------------------- language gate
    gate: GateConfig = Field(default_factory=lambda: GateConfig(**WALAR_GATE))
    """Judges whether a rollout is in its target language (mode ``additive``): ``match_reward``
    is added to the formula on a pass, ``mismatch_reward`` replaces it on a failure."""
    # ----------------------------------------------------------- alignment
    alignment: AlignmentConfig = Field(default_factory=AlignmentConfig)
    """The word aligner (bge-m3 layer 24, its own span gate: MaskLID's role)."""
    # ------------------------------------------------------------- columns
    source_columns: tuple[str, ...] = ("source", "src")
    """Keyword columns holding the source text; the first present is used."""
    language_columns: tuple[str, ...] = ("target_language", "lang", "language")
    """Keyword columns holding the target language; the first present is used."""

    @field_validator("gate", mode="before")
    @classmethod
    def _walar_gate(cls, gate: Any) -> Any:
        return {**WALAR_GATE, **gate} if isinstance(gate, Mapping) else gate

    @model_validator(mode="after")
    def _check(self) -> WalarRewardConfig:
        if self.gate.mode != "additive":
            raise ValueError(
                f"WALAR's gate replaces the reward on a failure: gate.mode must be 'additive', "
                f"got {self.gate.mode!r} (leave mode out of the gate dict to get WALAR's)"
            )
        for name in ("source_columns", "language_columns"):
            if not getattr(self, name) or not all(getattr(self, name)):
                raise ValueError(f"{name} must list at least one non-empty column name")
        return self


@dataclass(frozen=True)
class WalarBreakdown:
    """Per-rollout parts of :meth:`~lrpo.rewards.WalarReward.score`; every array has shape (n,).

    ``reward``: the WALAR reward (NaN: no score, see ``reason``); ``gate``: the gate value
    (``match_reward`` or ``mismatch_reward``; NaN where not checked); ``gate_reason``: the gate's
    reason (``""`` where not checked); ``qe``: the MetricX score, 0 best to 25 worst; ``f1``:
    the word-alignment F1 (both NaN where not computed: only rollouts that pass the gate are);
    ``align_reason``: the aligner's reason (``no_target_span`` gives F1 = 0; ``""`` where not
    aligned); ``reason``: one of :data:`WALAR_REASONS`.
    """

    reward: np.ndarray
    gate: np.ndarray
    gate_reason: np.ndarray
    qe: np.ndarray
    f1: np.ndarray
    align_reason: np.ndarray
    reason: np.ndarray

    def __len__(self) -> int:
        return len(self.reward)

    def counts(self) -> dict[str, int]:
        """Number of rollouts per reason."""
        return {name: int(np.count_nonzero(self.reason == name)) for name in WALAR_REASONS}

    def extra_logs(self) -> dict[str, list[float]]:
        """Per-rollout values for a trainer's logs, JSON-safe (NaN as 0): ``walar/qe``,
        ``walar/f1`` and ``walar/gate``, and ``walar/<reason>_rate``, 1 for the rollout's
        reason and 0 for the others, so that a trainer's mean over a batch is the batch's rate
        (the names of :func:`~lrpo.rewards.walar_metrics`); ``qe``, ``f1`` and ``gate`` are 0
        where not computed (see ``reason``)."""
        logs = {
            f"walar/{name}": np.nan_to_num(getattr(self, name), nan=0.0).tolist()
            for name in ("qe", "f1", "gate")
        }
        for name in WALAR_REASONS:
            logs[f"walar/{name}_rate"] = (self.reason == name).astype(np.float64).tolist()
        return logs
