"""Settings and per-text output of :class:`~lrpo.rewards.LanguageGate`.

:class:`GateConfig` is the serialisable part, nested whole in the reward's config
(``SemanticRewardConfig(gate=GateConfig(...))``); :class:`GateResult` holds what one
:meth:`~lrpo.rewards.LanguageGate.check` found, text by text.
"""

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

    Groups: detection, cleaning and spans, gate value.

    Examples
    --------
    >>> GateConfig(candidates=["de", "en"], mode="soft").min_language_share
    0.8
    """

    # allow_inf_nan=False: a NaN or infinite number is refused with the field's name.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # -------------------------------------------------------------- detection
    backend: Backend = Field("py3langid", description="Language identifier: " + str(BACKENDS))
    model_path: str | None = Field(
        None, description="fasttext backend: a fastText LID model file; None: lid.176.ftz."
    )
    candidates: tuple[str, ...] | None = Field(
        None,
        description="Languages the detector chooses among (the run's languages plus English); "
        "None: every curated lrpo language the backend can detect.",
    )
    script_only: tuple[str, ...] | None = Field(
        None,
        description="Languages gated by their script alone (the backend cannot detect them); "
        "None: curated languages the backend lacks whose scripts no candidate uses.",
    )
    margin: float | None = Field(
        None,
        ge=0.0,
        description="Log-score by which another language must beat the requested one to be "
        "named for a span; None: the backend's default (py3langid 6, fasttext 3, lingua 3).",
    )
    max_detect_chars: int | None = Field(
        4000, ge=1, description="Characters of each answer's prose that are examined."
    )

    # ----------------------------------------------------- cleaning and spans
    strip_math: bool = Field(True, description="Remove LaTeX maths and commands (\\boxed).")
    min_letter_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Letters over visible characters below which a text has no language.",
    )
    min_foreign_words: float = Field(
        3.0,
        gt=0.0,
        description="Words of another script from which a run inside a sentence is judged "
        "on its own (shorter runs: technical terms).",
    )
    window_words: float = Field(
        4.0,
        gt=0.0,
        description="Words per window in which longer spans are judged, so that a language "
        "change without punctuation is seen.",
    )

    # ------------------------------------------------------------- gate value
    mode: Literal["hard", "soft", "additive"] = Field(
        "hard", description="hard: 0/1; soft: the requested language's share; additive."
    )
    min_language_share: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Share of the words in the requested language needed to pass: above 20% "
        "of foreign words an answer is code-mixed.",
    )
    match_reward: float = Field(1.0, description="Additive mode: value of a pass.")
    mismatch_reward: float = Field(0.0, description="Additive mode: value of a failure.")

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

    Attributes
    ----------
    detected : numpy.ndarray of object
        The language holding the largest share of the words, ``None`` when the text has no
        language.
    confidence : numpy.ndarray of float
        Share of the words in ``detected``; NaN for language-less texts.
    language_share : numpy.ndarray of float
        Share of the words in the requested language, in [0, 1].
    script_share : numpy.ndarray of float
        Share of letters in the requested language's scripts, in [0, 1] (a diagnostic).
    letter_share : numpy.ndarray of float
        Share of visible characters that are letters, in [0, 1].
    value : numpy.ndarray of float
        The gate value per the mode.
    reason : numpy.ndarray of object
        One of :data:`REASONS`.
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
