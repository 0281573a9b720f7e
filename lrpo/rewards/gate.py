"""`LanguageGate`: did a rollout answer in the language it was asked for?

The LRPO reference zeroes the reward unless fastText's top-1 language of the
cleaned answer equals the routed language. This gate does the same with a
batched backend (:mod:`lrpo.rewards.lid`) and adds a per-character Unicode
script check (:mod:`lrpo.rewards.scripts`) that catches code-mixed answers a
top-1 label misses (half English, half Hindi is often still labelled ``hi``).

Design choices
--------------
* The detector chooses among ``candidates`` only (the backend's
  ``set_languages``), as the reference counts a prediction outside its arms as
  none. Default: every curated lrpo language the backend can detect.
* A language the backend cannot detect (``bo`` Tibetan for py3langid and langid)
  may be gated by script alone: list it in ``script_only`` (by default, every
  curated language the backend lacks whose scripts no candidate uses). For such a
  request the detector is not asked; ``detected`` is the language itself when at
  least ``script_threshold`` of the letters are in its script, else ``None``, and
  ``confidence`` is NaN. A script-only language that shares a script with a
  candidate (Hausa, Latin script, under langid) is refused at construction: the
  script check cannot tell it from English.
* ``script_threshold`` defaults to 0.8: on the benchmark (``benchmarks/gate_accuracy.py``)
  raising it from 0.5 to 0.8 costs under 0.5 points of pass rate on genuine answers
  and doubles the code-mixed answers caught (all of those in a non-Latin script).
* Modes: ``hard`` is 1 when the detected language is the requested one *and* the
  script share reaches the threshold (the reference is the first condition alone:
  ``script_threshold=0`` gives it). ``soft`` is the script share when the detected
  language is the requested one, else 0: the language identity stays a hard
  condition (Spanish written for Portuguese has a perfect Latin share, and
  naive-Bayes probabilities are too overconfident to grade on), while the share
  grades purity (a 70 % Devanagari Hindi answer earns 0.7), without threshold.
  ``additive`` returns ``match_reward`` on a hard pass, else ``mismatch_reward``,
  a term R_lang to add (R = lam_sim R_sim + lam_lang R_lang, or WALAR's -25).
* A text with no letters of a real script after cleaning, or whose letters are
  under ``min_letter_share`` of its visible characters, has no language: its
  gate is 0 (``mismatch_reward`` in additive mode) and it is counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lrpo.languages import LANGUAGES, get_language, validate_languages

from .lid import BACKENDS, backend_languages, make_backend
from .scripts import clean_texts, letter_stats, script_table

__all__ = ["REASONS", "GateConfig", "GateResult", "LanguageGate"]

#: Values of ``GateResult.reason``; every text gets the first that applies.
REASONS = ("empty", "no_letters", "wrong_language", "mixed_script", "pass")

Backend = Literal["py3langid", "langid", "lingua"]


class GateConfig(BaseModel):
    """Settings of a :class:`LanguageGate`, checked at construction.

    Examples
    --------
    >>> GateConfig(candidates=["de", "en"], mode="soft").script_threshold
    0.8
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Detection
    backend: Backend = Field("py3langid", description="Language identifier: " + str(BACKENDS))
    candidates: tuple[str, ...] | None = Field(
        None,
        description="Languages the detector chooses among; None: every curated lrpo language "
        "the backend can detect.",
    )
    script_only: tuple[str, ...] | None = Field(
        None,
        description="Languages gated by their script alone (the backend cannot detect them); "
        "None: curated languages the backend lacks whose scripts no candidate uses.",
    )
    fallback_backend: Backend | None = Field(
        None, description="Second opinion re-detecting texts of low confidence (e.g. 'lingua')."
    )
    fallback_below: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Confidence at or below which the fallback decides (1: always).",
    )
    max_detect_chars: int | None = Field(
        2000, ge=1, description="Characters of each cleaned text given to the detector."
    )

    # Cleaning
    strip_math: bool = Field(True, description="Remove LaTeX maths and commands (\\boxed).")
    min_letter_share: float = Field(
        0.05, ge=0.0, le=1.0, description="Letters over visible characters below which a text "
        "has no language."
    )  # fmt: skip

    # Gate value
    mode: Literal["hard", "soft", "additive"] = Field(
        "hard", description="hard: 0/1; soft: script share if the language matches; additive."
    )
    script_threshold: float = Field(
        0.8, ge=0.0, le=1.0, description="Share of letters in the requested language's scripts "
        "needed to pass (hard, additive)."
    )  # fmt: skip
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
        if self.fallback_backend == self.backend:
            raise ValueError(f"fallback_backend {self.fallback_backend!r} is the backend itself")
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
        Detected lrpo code, ``None`` when the text has no language.
    confidence : numpy.ndarray of float
        Detector confidence of ``detected``; NaN for script-only and language-less texts.
    script_share : numpy.ndarray of float
        Share of letters in the requested language's scripts, in [0, 1].
    letter_share : numpy.ndarray of float
        Share of visible characters that are letters, in [0, 1].
    value : numpy.ndarray of float
        The gate value per the mode.
    reason : numpy.ndarray of object
        One of :data:`REASONS`.
    """

    detected: np.ndarray
    confidence: np.ndarray
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


class LanguageGate:
    """Zero (or penalise) rewards of rollouts not written in their requested language.

    Parameters
    ----------
    config : GateConfig, optional
        All settings; or give them as keywords (``LanguageGate(mode="soft")``).

    Raises
    ------
    ValueError
        For a bad setting, unknown codes, candidates the backend cannot detect, or a
        script-only language whose script a candidate shares.

    Examples
    --------
    >>> gate = LanguageGate(candidates=["de", "en", "ja", "zh"])
    >>> result = gate.check(["Das ist die Antwort.", "これは日本語の答えです。"], ["de", "zh"])
    >>> result.value.tolist(), result.reason.tolist()
    ([1.0, 0.0], ['pass', 'wrong_language'])
    >>> gate.metrics()["gate/pass_rate"]
    0.5
    """

    def __init__(self, config: GateConfig | None = None, **settings) -> None:
        if config is not None and settings:
            raise ValueError("give either a GateConfig or keyword settings, not both")
        self.config = config = config if config is not None else GateConfig(**settings)
        supported = set(backend_languages(config.backend))
        candidates = config.candidates
        if candidates is None:
            candidates = tuple(code for code in LANGUAGES if code in supported)
        self.backend = make_backend(config.backend, candidates)  # refuses unsupported ones
        self.fallback = None
        if config.fallback_backend is not None:
            fallback_supported = set(backend_languages(config.fallback_backend))
            self.fallback = make_backend(
                config.fallback_backend, [c for c in candidates if c in fallback_supported]
            )
        taken = {script for code in candidates for script in get_language(code).scripts}
        script_only = config.script_only
        if script_only is None:  # scripts that no detectable curated language writes
            detectable = {s for code in LANGUAGES if code in supported
                          for s in get_language(code).scripts} | taken  # fmt: skip
            script_only = tuple(
                code for code in LANGUAGES
                if code not in supported and not detectable & set(get_language(code).scripts)
            )  # fmt: skip
        for code in script_only:
            shared = sorted(taken & set(get_language(code).scripts))
            if shared:
                users = [c for c in candidates if set(get_language(c).scripts) & set(shared)]
                raise ValueError(
                    f"script-only language {code!r} shares script(s) {shared} with candidates "
                    f"{users}, so its script cannot identify it; use a backend that detects "
                    f"{code!r} or drop those candidates"
                )
        self.candidates = tuple(candidates)
        self.script_only = tuple(script_only)
        self.languages = self.candidates + self.script_only
        self._row = {code: i for i, code in enumerate(self.languages)}
        scripts = sorted({s for code in self.languages for s in get_language(code).scripts})
        self._table = script_table(scripts)
        self._allowed = np.zeros((len(self.languages), len(scripts) + 1), dtype=bool)
        for code, row in self._row.items():
            for script in get_language(code).scripts:
                self._allowed[row, 1 + scripts.index(script)] = True
        self._script_only = np.array([code in self.script_only for code in self.languages])
        self.reset_counts()

    def _rows(self, requested: Sequence[str] | str, size: int) -> np.ndarray:
        """Language row per text; ValueError naming codes this gate cannot check."""
        codes = [requested] * size if isinstance(requested, str) else list(requested)
        if len(codes) != size:
            raise ValueError(f"got {size} texts but {len(codes)} requested languages")
        for code in dict.fromkeys(codes):
            if code not in self._row:
                get_language(code)  # UnknownLanguageError names a malformed or unknown code
                raise ValueError(
                    f"requested language {code!r} is neither a candidate nor script-only for "
                    f"this gate ({', '.join(self.languages)}); add it to candidates, or to "
                    "script_only if the backend cannot detect it"
                )
        return np.fromiter(map(self._row.__getitem__, codes), dtype=np.int64, count=size)

    def _detect(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        limit = self.config.max_detect_chars
        texts = [text[:limit] for text in texts] if limit is not None else texts
        codes, confidence = self.backend.detect(texts)
        if self.fallback is not None:
            known = np.isin(codes, self.fallback.languages)  # it could have said otherwise
            unsure = np.flatnonzero((confidence <= self.config.fallback_below) & known)
            if unsure.size:
                second, second_conf = self.fallback.detect([texts[i] for i in unsure])
                sure = second.astype(bool)  # lingua abstains with None
                codes[unsure[sure]], confidence[unsure[sure]] = second[sure], second_conf[sure]
        return codes, confidence

    def check(self, texts: Sequence[str], requested: Sequence[str] | str) -> GateResult:
        """Gate a batch of answers against the languages they were asked for.

        Parameters
        ----------
        texts : sequence of str
            B model answers (raw; they are cleaned here).
        requested : str or sequence of str
            The language asked of each answer, or one for all.

        Returns
        -------
        GateResult
            Also added to the running counts (:meth:`metrics`).

        Raises
        ------
        ValueError
            For a requested code that is unknown or that this gate cannot check.
        """
        config = self.config
        size = len(texts)
        rows = self._rows(requested, size)
        cleaned = clean_texts(texts, strip_math=config.strip_math)
        letters, letter_share, script_share = letter_stats(
            cleaned, self._table, self._allowed, rows
        )
        empty = np.array([not text for text in cleaned], dtype=bool)
        has_language = (letters > 0) & (letter_share >= config.min_letter_share)
        script_only = self._script_only[rows]
        detected = np.full(size, None, dtype=object)
        confidence = np.full(size, math.nan)
        to_detect = np.flatnonzero(has_language & ~script_only)
        if to_detect.size:
            detected[to_detect], confidence[to_detect] = self._detect(
                [cleaned[i] for i in to_detect]
            )
        enough_script = script_share >= config.script_threshold
        own = np.array(self.languages, dtype=object)[rows]
        by_script = has_language & script_only & enough_script
        detected[by_script] = own[by_script]
        language_ok = has_language & (detected == own)

        reason = np.full(size, "pass", dtype=object)
        reason[~enough_script] = "mixed_script"
        reason[~language_ok] = "wrong_language"
        reason[~has_language] = "no_letters"
        reason[empty] = "empty"
        passed = reason == "pass"
        if config.mode == "hard":
            value = passed.astype(float)
        elif config.mode == "soft":
            value = np.where(language_ok, script_share, 0.0)
        else:
            value = np.where(passed, config.match_reward, config.mismatch_reward)
        result = GateResult(detected, confidence, script_share, letter_share, value, reason)
        self.counts["checked"] += size
        for name, count in result.counts().items():
            self.counts[name] += count
        return result

    def reset_counts(self) -> None:
        """Zero the running counts (e.g. after each logging step)."""
        self.counts: dict[str, int] = dict.fromkeys(("checked", *REASONS), 0)

    def metrics(self) -> dict[str, float]:
        """Running rates for logging: ``gate/pass_rate``, ``gate/empty_rate``, ...

        Rates are over all texts checked since the last :meth:`reset_counts`
        (NaN before any), plus ``gate/checked``.
        """
        total = self.counts["checked"]
        rates = {
            f"gate/{name}_rate": self.counts[name] / total if total else math.nan
            for name in REASONS
            if name != "pass"
        }
        return {
            "gate/pass_rate": self.counts["pass"] / total if total else math.nan,
            **rates,
            "gate/checked": float(total),
        }
