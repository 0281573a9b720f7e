"""`LanguageGate`: did a rollout answer in the language it was asked for, and how much of it?

LRPO's reference compares fastText's top-1 language with the routed one; that fails on real
answers (technical terms look foreign, a short string is a coin flip between close languages,
German followed by two English sentences is "German"). This gate measures instead the share of
the answer's words written in the requested language:

1. **Prose** (:mod:`lrpo.rewards.cleaning`): code, URLs, maths and technical tokens removed.
2. **Spans** (:mod:`lrpo.rewards.spans`): sentences, and long foreign-script runs inside one,
   each weighed in words (fair across scripts).
3. **Language of each span** (:mod:`lrpo.rewards.lid`): another language is named only when
   it beats the requested one by ``margin`` (close siblings such as Malay and Indonesian pass
   a short string), the requested one never without a letter of its scripts; a
   ``script_only`` language (undetectable by the backend) by its script.
4. **Verdict**: ``pass`` needs the requested language to hold the largest share, and at least
   ``min_language_share``; ``hard`` gives 1 or 0, ``soft`` the share (seed 000's R_lang),
   ``additive`` ``match_reward`` or ``mismatch_reward``. Too few letters: no language.

Candidates default to every curated language the backend detects (the integrations: the run's
languages plus English). Defaults were measured on ``benchmarks/gate_accuracy.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from lrpo.languages import LANGUAGES, get_language
from lrpo.metrics import MetricSums

from .cleaning import strip_non_prose, text_list
from .gate_config import REASONS, GateConfig, GateResult
from .lid import backend_languages, make_backend
from .scripts import script_table
from .spans import split_spans

__all__ = ["REASONS", "GateConfig", "GateResult", "LanguageGate", "gate_metrics"]


class LanguageGate:
    """Zero (or penalise) rewards of rollouts not written in their requested language.

    Parameters
    ----------
    config : GateConfig, optional
        All settings; or give them as keywords (``LanguageGate(mode="soft")``).

    Raises
    ------
    ValueError
        A bad setting or code, or a script-only language whose script a candidate shares.

    Examples
    --------
    >>> gate = LanguageGate(candidates=["de", "en", "ja", "zh"])
    >>> result = gate.check(["Das ist die Antwort.", "これは日本語の答えです。",
    ...                      "Das ist richtig. But this is English. And so is this part."],
    ...                     ["de", "zh", "de"])
    >>> result.reason.tolist()
    ['pass', 'wrong_language', 'wrong_language']
    >>> gate.metric_sums().metrics()["gate/pass_rate"]
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
        taken = set().union(*map(_scripts, candidates))
        script_only = config.script_only
        if script_only is None:  # scripts that no detectable curated language writes
            detectable = taken.union(*(_scripts(code) for code in LANGUAGES if code in supported))
            script_only = tuple(
                code
                for code in LANGUAGES
                if code not in supported and not detectable & _scripts(code)
            )
        for code in script_only:
            shared = sorted(taken & _scripts(code))
            if shared:
                users = [c for c in candidates if _scripts(c) & set(shared)]
                raise ValueError(
                    f"script-only language {code!r} shares script(s) {shared} with candidates "
                    f"{users}, so its script cannot identify it; use a backend that detects "
                    f"{code!r} or drop those candidates"
                )
        self.candidates = tuple(candidates)
        self.script_only = tuple(script_only)
        self.languages = self.candidates + self.script_only
        self._row = {code: i for i, code in enumerate(self.languages)}
        scripts = sorted(set().union(*map(_scripts, self.languages)))
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
        self._counts = dict.fromkeys(_SUMS, 0)

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
            scores[columns] = np.where(own[detect[asked]], scores[columns] + self.margin, -np.inf)
            language[detect] = scores.argmax(axis=1)
        known = language >= 0
        cells = spans.owner[known] * n_languages + language[known]
        words = np.bincount(cells, spans.weight[known], minlength=size * n_languages)
        words = words.reshape(size, n_languages)
        total = np.bincount(spans.owner, spans.weight, minlength=size)  # unknown spans too
        return np.divide(words, total[:, None], out=np.zeros(words.shape), where=total[:, None] > 0)

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
            Also added to the running counts (:meth:`metric_sums`).

        Raises
        ------
        TypeError
            Texts that are not a sequence of ``str`` (a bare ``str`` included).
        ValueError
            A requested code this gate cannot check, or not one per text.
        """
        config = self.config
        texts = text_list(texts, item="answer")
        size = len(texts)
        rows = self._rows(requested, size)
        limit = config.max_detect_chars
        prose = [strip_non_prose(text, strip_math=config.strip_math)[:limit] for text in texts]
        spans = split_spans(
            prose,
            self._table,
            self._allowed,
            rows,
            min_foreign_words=config.min_foreign_words,
            window_words=config.window_words,
        )
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
        result = GateResult(
            detected, confidence, own_share, spans.script_share, spans.letter_share, value, reason
        )
        self._counts["checked"] += size
        for name, count in result.counts().items():
            self._counts[name] += count
        return result

    def target_spans(self, prose: Sequence[str], requested: Sequence[str] | str) -> list[str]:
        """The parts of each text in its requested language, joined in order.

        Each text is cut into spans as :meth:`check` cuts an answer, and each span is judged by
        :meth:`check` (counted in its metrics): a span in another language, code-mixed into the
        answer, is left out. ``prose`` is already cleaned (:func:`strip_non_prose`), so that a
        caller decides how much of it counts. Raises ValueError for a requested code this gate
        cannot check, or not one per text.
        """
        config = self.config
        rows = self._rows(requested, len(prose))
        spans = split_spans(
            list(prose),
            self._table,
            self._allowed,
            rows,
            min_foreign_words=config.min_foreign_words,
            window_words=config.window_words,
        )
        languages = np.array(self.languages, dtype=object)[rows[spans.owner]]
        passed = self.check(spans.texts, list(languages)).passed
        kept: list[list[str]] = [[] for _ in prose]
        for text, owner in zip(
            np.array(spans.texts, dtype=object)[passed], spans.owner[passed], strict=True
        ):
            kept[owner].append(text)
        return [" ".join(parts) for parts in kept]

    def identify(self, texts: Sequence[str]) -> np.ndarray:
        """Top-1 candidate language of each text's prose (``None`` without letters), for texts
        of unknown language (references): no margin, and the running counts are left alone."""
        prose = [strip_non_prose(text) for text in text_list(texts, item="answer")]
        detected = np.full(len(prose), None, dtype=object)
        keep = [i for i, text in enumerate(prose) if any(c.isalpha() for c in text)]
        if keep:
            scores = self.backend.scores([prose[i] for i in keep])
            detected[keep] = np.array(self.backend.languages, dtype=object)[scores.argmax(1)]
        return detected

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Texts ``checked`` and one count per :data:`REASONS` since the last reset
        (``reset=True``: start a new window); :func:`gate_metrics` derives the rates, so the
        counts of several gates (ranks) merge exactly."""
        sums = MetricSums(
            {name: float(count) for name, count in self._counts.items()}, gate_metrics
        )
        if reset:
            self._counts = dict.fromkeys(_SUMS, 0)
        return sums


def _scripts(code: str) -> set[str]:
    return set(get_language(code).scripts)


#: Keys of :meth:`LanguageGate.metric_sums`.
_SUMS = ("checked", *REASONS)


def gate_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of :meth:`LanguageGate.metric_sums`: ``gate/pass_rate`` and
    ``gate/<reason>_rate`` of every other reason over the texts checked (NaN before any), and
    ``gate/checked``."""
    total = sums.get("checked", 0.0)

    def rate(name: str) -> float:
        return sums.get(name, 0.0) / total if total else math.nan

    rates = {f"gate/{name}_rate": rate(name) for name in REASONS if name != "pass"}
    return {"gate/pass_rate": rate("pass"), **rates, "gate/checked": float(total)}
