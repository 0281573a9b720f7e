"""Settings (:class:`GateConfig`, nested in ``SemanticRewardConfig.gate``) and per-text output
(:class:`GateResult`) of :class:`~lrpo.rewards.LanguageGate`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lrpo.languages import validate_languages

from .lid import BACKENDS

__all__ = ["REASONS", "GateConfig", "GateResult"]

#: Values of ``GateResult.reason``; every text gets the first that applies.
REASONS = ("empty", "no_letters", "wrong_language", "code_mixed", "pass")

Backend = Literal["py3langid", "langid", "fasttext", "lingua"]


class GateConfig(BaseModel):
    """Settings of a :class:`~lrpo.rewards.LanguageGate`, checked at construction.

    Examples
    --------
    >>> GateConfig(candidates=["de", "en"], mode="soft").min_language_share
    0.8
    """

    # allow_inf_nan=False: a NaN or infinite number is refused with the field's name.
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )

    # -------------------------------------------------------------- detection
    backend: Backend = Field("py3langid", description="Language identifier: " + str(BACKENDS))
    model_path: str | None = None
    """fasttext backend: a fastText LID model file; None: lid.176.ftz."""
    candidates: tuple[str, ...] | None = None
    """Languages the detector chooses among; None: all the backend knows."""
    script_only: tuple[str, ...] | None = None
    """Languages gated by script alone; None: those the backend lacks."""
    margin: float | None = Field(None, ge=0.0)
    """Log-score by which another language must beat the requested one; None: the backend's
    default (py3langid 6, fasttext 3, lingua 3).
    """
    max_detect_chars: int | None = Field(4000, ge=1)
    """Prose characters examined."""
    # ----------------------------------------------------- cleaning and spans
    strip_math: bool = True
    """Remove LaTeX maths and commands (``\\boxed``)."""
    min_letter_share: float = Field(0.05, ge=0.0, le=1.0)
    """Letter share below which a text has no language."""
    min_foreign_words: float = Field(3.0, gt=0.0)
    """Words from which a foreign-script run is judged on its own."""
    window_words: float = Field(4.0, gt=0.0)
    """Words per window of a long span."""
    # ------------------------------------------------------------- gate value
    mode: Literal["hard", "soft", "additive"] = "hard"
    """hard: 0/1; soft: the requested language's share; additive."""
    min_language_share: float = Field(0.8, ge=0.0, le=1.0)
    """Share of words in the requested language to pass."""
    match_reward: float = 1.0
    """Additive mode: value of a pass."""
    mismatch_reward: float = 0.0
    """Additive mode: value of a failure."""

    @field_validator("candidates", "script_only")
    @classmethod
    def _known(cls, codes: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if codes is None else validate_languages(codes)

    @model_validator(mode="after")
    def _consistent(self) -> GateConfig:
        if self.mode != "additive" and (self.match_reward, self.mismatch_reward) != (1.0, 0.0):
            raise ValueError(
                "match_reward/mismatch_reward apply to mode='additive' only, "
                f"got mode={self.mode!r}"
            )
        if self.model_path is not None and self.backend != "fasttext":
            raise ValueError(f"model_path is for backend='fasttext', got {self.backend!r}")
        if self.candidates is not None and self.script_only is not None:
            both = sorted(set(self.candidates) & set(self.script_only))
            if both:
                raise ValueError(f"{both} are in both candidates and script_only; pick one")
        return self


@dataclass(frozen=True)
class GateResult:
    """Per-text outcome of :meth:`LanguageGate.check`; every array has shape (B,).

    ``detected``: the language holding the largest share of the words (``None``: the text
    has no language); ``confidence``: that share (NaN without language); ``language_share``:
    the requested language's share; ``script_share``: share of the letters in its scripts (a
    diagnostic); ``letter_share``: letters over visible characters; ``value``: the gate value
    per the mode; ``reason``: one of :data:`REASONS`.
    """

    detected: np.ndarray
    confidence: np.ndarray
    language_share: np.ndarray
    script_share: np.ndarray
    letter_share: np.ndarray
    value: np.ndarray
    reason: np.ndarray

    @property
    def passed(self) -> np.ndarray:
        """Boolean array: the hard gate passed."""
        return self.reason == "pass"

    def counts(self) -> dict[str, int]:
        """Number of texts per reason."""
        return {name: int(np.count_nonzero(self.reason == name)) for name in REASONS}
