"""`LanguageGate`: did a rollout answer in the language it was asked for, and how much of it?

The LRPO reference zeroes the reward unless fastText's top-1 language of the cleaned answer
equals the routed language. On real answers that rule fails three ways: technical terms and
code make non-Latin answers look foreign, a short string is a coin flip between close
languages, and a German answer followed by two English sentences is still "German". This
gate measures instead the share of the answer's words written in the requested language.

How a batch is gated
--------------------
1. **Prose** (:mod:`lrpo.rewards.cleaning`): any ``str`` is sanitised; code, URLs, maths and
   technical tokens (acronyms, identifiers, placeholders, options, paths) are removed.
2. **Spans** (:mod:`lrpo.rewards.spans`): the prose is cut into sentences, and long runs of
   foreign-script words inside a sentence are cut out; each span is weighed in words.
3. **Language of each span**: the backend (:mod:`lrpo.rewards.lid`) scores each span for
   every candidate; another language than the requested one is named only when it beats the
   requested one by ``margin``, and never the requested one for a span without a letter of
   its scripts. A language the backend cannot detect (``script_only``, e.g. Tibetan) is
   recognised by its script alone.
4. **Share and verdict**: ``language_share`` is the requested language's share of the
   words; ``detected`` the language with the largest share. ``pass`` needs ``detected`` to be
   the requested language and a share of at least ``min_language_share``.

Design choices
--------------
* Candidates: by default every curated lrpo language the backend detects. Restrict them to
  the languages the run can ask for (the router's arms) plus English: ``SemanticReward``,
  the TRL callback and the trainer plugins pass those through. Close siblings (Malay and
  Indonesian, Danish and Norwegian, Serbian, Croatian and Bosnian, Russian and Ukrainian...)
  are handled by the margin: a short Russian string that the detector finds a shade more
  Serbian still passes as Russian, while a real Serbian paragraph does not.
* Fair across scripts: shares are in words, and technical tokens count for no language.
* Modes: ``hard`` is 1 on a pass, else 0. ``soft`` is ``language_share`` (seed 000's R_lang:
  the fraction of the answer in the target language). ``additive`` returns
  ``match_reward`` on a pass, else ``mismatch_reward``, a term R_lang to add
  (R = lam_sim R_sim + lam_lang R_lang, or WALAR's -25).
* A text with no letters of a real script after cleaning, or whose letters are under
  ``min_letter_share`` of its visible characters, has no language: its gate is 0
  (``mismatch_reward`` in additive mode) and it is counted.
* Defaults measured on ``benchmarks/gate_accuracy.py`` (real UI strings from gettext
  catalogues and answers built from them): see its README section for the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lrpo.languages import LANGUAGES, get_language, validate_languages

from .cleaning import strip_non_prose
from .lid import BACKENDS, backend_languages, make_backend
from .scripts import script_table
from .spans import split_spans

__all__ = ["REASONS", "GateConfig", "GateResult", "LanguageGate"]

#: Values of ``GateResult.reason``; every text gets the first that applies.
REASONS = ("empty", "no_letters", "wrong_language", "code_mixed", "pass")

Backend = Literal["py3langid", "langid", "fasttext", "lingua"]


class GateConfig(BaseModel):
    """Settings of a :class:`LanguageGate`, checked at construction.

    Examples
    --------
    >>> GateConfig(candidates=["de", "en"], mode="soft").min_language_share
    0.8
    """

    # allow_inf_nan=False: a NaN or infinite number is refused with the field's name.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # Detection
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

    # Cleaning and spans
    strip_math: bool = Field(True, description="Remove LaTeX maths and commands (\\boxed).")
    min_letter_share: float = Field(
        0.05, ge=0.0, le=1.0, description="Letters over visible characters below which a text "
        "has no language."
    )  # fmt: skip
    min_foreign_words: float = Field(
        3.0, gt=0.0, description="Words of another script from which a run inside a sentence "
        "is judged on its own (shorter runs: technical terms)."
    )  # fmt: skip

    window_words: float = Field(
        4.0, gt=0.0, description="Words per window in which longer spans are judged, so that "
        "a language change without punctuation is seen."
    )  # fmt: skip

    # Gate value
    mode: Literal["hard", "soft", "additive"] = Field(
        "hard", description="hard: 0/1; soft: the requested language's share; additive."
    )
    min_language_share: float = Field(
        0.8, ge=0.0, le=1.0, description="Share of the words in the requested language needed "
        "to pass: above 20% of foreign words an answer is code-mixed."
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
    >>> result = gate.check(["Das ist die Antwort.", "これは日本語の答えです。",
    ...                      "Das ist richtig. But this is English. And so is this part."],
    ...                     ["de", "zh", "de"])
    >>> result.reason.tolist()
    ['pass', 'wrong_language', 'wrong_language']
    >>> gate.metrics()["gate/pass_rate"]
    0.3333333333333333
    """

    def __init__(self, config: GateConfig | None = None, **settings) -> None:
        if config is not None and settings:
            raise ValueError("give either a GateConfig or keyword settings, not both")
        self.config = config = config if config is not None else GateConfig(**settings)
        supported = set(backend_languages(config.backend, config.model_path))
        candidates = config.candidates
        if candidates is None:
            candidates = tuple(code for code in LANGUAGES if code in supported)
        self.backend = make_backend(config.backend, candidates, model_path=config.model_path)
        self.margin = config.margin if config.margin is not None else self.backend.margin
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
        self._detectable = np.arange(len(self.languages)) < len(self.candidates)
        self._script_only_row = np.full(len(scripts) + 1, -1)  # script id -> its language
        for code in self.script_only:
            for script in get_language(code).scripts:
                self._script_only_row[1 + scripts.index(script)] = self._row[code]
        self.reset_counts()

    # ------------------------------------------------------------------ inputs
    def _texts(self, texts: Sequence[str]) -> list[str]:
        """The texts as a list; TypeError naming the first item that is not a ``str``."""
        if isinstance(texts, str) or not isinstance(texts, Sequence | np.ndarray):
            raise TypeError(
                f"texts must be a sequence of str (one per answer), got {type(texts).__name__}"
                + ("; wrap a single answer in a list" if isinstance(texts, str) else "")
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        return list(texts)

    def _rows(self, requested: Sequence[str] | str, size: int) -> np.ndarray:
        """Language row per text; errors naming the requested codes this gate cannot check."""
        if isinstance(requested, str):
            codes = [requested] * size
        elif isinstance(requested, Sequence | np.ndarray):
            codes = list(requested)
        else:
            raise TypeError(
                "requested must be a language code or a sequence of them, got "
                f"{type(requested).__name__}"
            )
        if len(codes) != size:
            raise ValueError(f"got {size} texts but {len(codes)} requested languages")
        for i, code in enumerate(codes):
            if not isinstance(code, str):
                raise TypeError(f"requested[{i}] must be a language code (str), got {code!r}")
        for code in dict.fromkeys(codes):
            if code not in self._row:
                get_language(code)  # UnknownLanguageError names a malformed or unknown code
                raise ValueError(
                    f"requested language {code!r} is neither a candidate nor script-only for "
                    f"this gate ({', '.join(self.languages)}); add it to candidates, or to "
                    "script_only if the backend cannot detect it"
                )
        return np.fromiter(map(self._row.__getitem__, codes), dtype=np.int64, count=size)

    # ------------------------------------------------------------------ shares
    def _shares(self, spans, rows: np.ndarray, size: int) -> np.ndarray:
        """(B, L) share of each text's words in each gate language."""
        n_languages = len(self.languages)
        requested = rows[spans.owner]
        own = spans.own_letters > 0
        language = self._script_only_row[spans.script]  # written in a script-only script
        by_script = language >= 0
        detect = np.flatnonzero(~by_script)
        if detect.size:
            scores = self.backend.scores([spans.texts[i] for i in detect])
            asked = np.flatnonzero(self._detectable[requested[detect]])
            columns = asked, requested[detect[asked]]  # backend columns are the first rows
            scores[columns] = np.where(own[detect[asked]], scores[columns] + self.margin,
                                       -np.inf)  # fmt: skip
            language[detect] = scores.argmax(axis=1)
        known = language >= 0
        words = np.bincount(
            spans.owner[known] * n_languages + language[known],
            spans.weight[known],
            minlength=size * n_languages,
        ).reshape(size, n_languages)
        total = np.bincount(spans.owner, spans.weight, minlength=size)  # unknown spans too
        return np.divide(words, total[:, None], out=np.zeros(words.shape),
                         where=total[:, None] > 0)  # fmt: skip

    def check(self, texts: Sequence[str], requested: Sequence[str] | str) -> GateResult:
        """Gate a batch of answers against the languages they were asked for.

        Parameters
        ----------
        texts : sequence of str
            B model answers (raw; they are cleaned here). Any ``str`` is accepted.
        requested : str or sequence of str
            The language asked of each answer, or one for all.

        Returns
        -------
        GateResult
            Also added to the running counts (:meth:`metrics`).

        Raises
        ------
        TypeError
            For texts that are not a sequence of ``str`` (a bare ``str`` included).
        ValueError
            For a requested code that is unknown or that this gate cannot check, or as many
            codes as texts.
        """
        config = self.config
        texts = self._texts(texts)
        size = len(texts)
        rows = self._rows(requested, size)
        limit = config.max_detect_chars
        prose = [strip_non_prose(text, strip_math=config.strip_math)[:limit] for text in texts]
        spans = split_spans(prose, self._table, self._allowed, rows,
                            min_foreign_words=config.min_foreign_words,
                            window_words=config.window_words)  # fmt: skip
        shares = self._shares(spans, rows, size)
        empty = np.array([not text for text in prose], dtype=bool)
        has_language = (spans.letters > 0) & (spans.letter_share >= config.min_letter_share)
        own_share, top = shares[np.arange(size), rows], shares.max(axis=1)
        language_ok = own_share >= top  # a tie goes to the requested language
        best = np.where(language_ok, rows, shares.argmax(axis=1))
        has_language &= top > 0
        language_ok &= has_language
        detected = np.full(size, None, dtype=object)
        detected[has_language] = np.array(self.languages, dtype=object)[best[has_language]]
        confidence = np.where(has_language, top, math.nan)

        reason = np.full(size, "pass", dtype=object)
        reason[own_share < config.min_language_share] = "code_mixed"
        reason[~language_ok] = "wrong_language"
        reason[~has_language] = "no_letters"
        reason[empty] = "empty"
        passed = reason == "pass"
        own_share = np.where(has_language, own_share, 0.0)
        if config.mode == "hard":
            value = passed.astype(float)
        elif config.mode == "soft":
            value = own_share
        else:
            value = np.where(passed, config.match_reward, config.mismatch_reward)
        result = GateResult(detected, confidence, own_share, spans.script_share,
                            spans.letter_share, value, reason)  # fmt: skip
        self.counts["checked"] += size
        for name, count in result.counts().items():
            self.counts[name] += count
        return result

    def identify(self, texts: Sequence[str]) -> np.ndarray:
        """Top-1 candidate language of each text's prose, ``None`` without letters.

        For texts of unknown language (references): no requested language, no margin, and
        the running counts are left alone.
        """
        prose = [strip_non_prose(text) for text in self._texts(texts)]
        detected = np.full(len(prose), None, dtype=object)
        keep = [i for i, text in enumerate(prose) if any(c.isalpha() for c in text)]
        if keep:
            scores = self.backend.scores([prose[i] for i in keep])
            detected[keep] = np.array(self.backend.languages, dtype=object)[scores.argmax(1)]
        return detected

    # ----------------------------------------------------------------- metrics
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
