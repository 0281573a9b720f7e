"""`WalarReward`: WALAR's translation reward (seed 003): quality estimation, word alignment and a
language gate, as one TRL reward function; the OpenRLHF and verl plugins and ``lrpo serve``
choose it with ``reward: {kind: walar, ...}`` (:data:`lrpo.rewards.choice.RewardConfig`),
each rollout's source then in its packed label's ``reference``.

For a rollout ``hyp`` of source ``src`` asked in language ``l``::

    R = mismatch_reward                          if hyp is not in l (the gate fails)
    R = match_reward - QE(src, hyp) + alpha * F1  otherwise

with WALAR's values ``mismatch_reward = -25`` (MetricX's worst score), ``match_reward = 0`` and
``alpha = 20``. ``QE`` is MetricX-24 QE (:class:`~lrpo.rewards.MetricXScorer`, 0 best to 25
worst); ``F1`` the word-alignment F1 of ``src`` and the target-language part of ``hyp``
(:class:`~lrpo.rewards.WordAligner`: copying the source or drifting into another language
earns no alignment); the gate a :class:`~lrpo.rewards.LanguageGate` in ``additive`` mode.
Only rollouts that pass the gate are scored and aligned.

Where WALAR differs: it gates with GlotLID's top-1 language, lrpo's gate by the share of the
words in the target language (``gate.min_language_share``); a fastText GlotLID model can be
given as the gate's ``model_path``.

Bad input: no source column (or no target-language column) raises ``ValueError``, since every
rollout of the batch would lack it; one item whose source is not a ``str``, or whose completion
holds no text, gets a NaN reward (TRL's "no score") counted as ``no_source`` / ``no_text``; a
NaN from the QE model gives NaN, counted ``qe_nan``; a hypothesis without a target-language
span scores F1 = 0, counted under ``align_reason``. Target languages must be codes the gates
check (``ValueError`` otherwise: add them to the gates' candidates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from lrpo.metrics import MetricSums

from .alignment import ALIGNMENT_REASONS, WordAligner
from .copies import message_text
from .gate import LanguageGate
from .steps import broadcast
from .walar_config import WALAR_GATE, WALAR_REASONS, WalarBreakdown, WalarRewardConfig

__all__ = [
    "WALAR_GATE",
    "WALAR_REASONS",
    "QualityEstimator",
    "WalarBreakdown",
    "WalarReward",
    "WalarRewardConfig",
    "walar_metrics",
]


class QualityEstimator(Protocol):
    """A reference-free translation score, lower is better (MetricX: 0 to 25): one float per
    pair, NaN where it has none."""

    def score(self, sources: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray: ...


class WalarReward:
    """WALAR's reward of translation rollouts; a TRL reward function.

    Parameters
    ----------
    config : WalarRewardConfig or mapping, optional
        Settings (defaults: WALAR's).
    qe : QualityEstimator, optional
        Built from ``config.qe_*`` (:meth:`MetricXScorer.from_pretrained`) when not given.
    aligner : WordAligner, optional
        Built from ``config.alignment`` when not given.
    gate : LanguageGate, optional
        Built from ``config.gate`` when not given; its mode must be ``additive``.

    Attributes
    ----------
    last_breakdown : WalarBreakdown or None
        Of the latest call.

    Examples
    --------
    >>> reward = WalarReward({"gate": {"candidates": ["de", "en"]}})  # doctest: +SKIP
    >>> rewards = reward(prompts=["Translate into German: The cat sleeps."] * 2,
    ...                  completions=["Die Katze schläft.", "The cat sleeps."],
    ...                  source=["The cat sleeps."] * 2, language=["de"] * 2)  # doctest: +SKIP
    >>> rewards[1], reward.last_breakdown.reason.tolist()  # doctest: +SKIP
    (-25.0, ['scored', 'gated'])
    """

    def __init__(
        self,
        config: WalarRewardConfig | Mapping[str, Any] | None = None,
        *,
        qe: QualityEstimator | None = None,
        aligner: WordAligner | None = None,
        gate: LanguageGate | None = None,
    ) -> None:
        if config is None:
            config = WalarRewardConfig()
        elif isinstance(config, Mapping):
            config = WalarRewardConfig(**config)
        elif not isinstance(config, WalarRewardConfig):
            raise TypeError(
                f"config must be a WalarRewardConfig or a dict, got {type(config).__name__}"
            )
        self.config = config
        if gate is None:
            gate = LanguageGate(config.gate)
        elif not isinstance(gate, LanguageGate) or gate.config.mode != "additive":
            raise TypeError(
                "gate must be a LanguageGate in mode='additive' (WALAR's: "
                f"LanguageGate(**{WALAR_GATE})), got {gate!r}"
            )
        if qe is None:
            from .qe import MetricXScorer

            qe = MetricXScorer.from_pretrained(
                config.qe_model,
                tokenizer=config.qe_tokenizer,
                device=config.qe_device or "auto",
                batch_size=config.qe_batch_size,
                max_length=config.qe_max_length,
            )
        elif not callable(getattr(qe, "score", None)):
            raise TypeError(f"qe must have score(sources, hypotheses), got {type(qe).__name__}")
        self.gate = gate
        self.qe = qe
        self.aligner = aligner if aligner is not None else WordAligner(config.alignment)
        self.__name__ = "walar_reward"  # TRL names reward functions by __name__
        self.last_breakdown: WalarBreakdown | None = None
        self._counts = _empty_sums()

    def __repr__(self) -> str:
        return f"WalarReward({self.config!r})"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """TRL's reward-function signature: one float per completion (NaN: no score); the
        source and the target language are read from the ``kwargs`` columns the config names
        (the first present of each)."""
        if completions is None:
            raise TypeError("completions is required: call reward(prompts=..., completions=...)")
        sources = _column(kwargs, self.config.source_columns, "source")
        languages = _column(kwargs, self.config.language_columns, "target-language")
        return self.score(completions, sources, languages).reward.tolist()

    def score(
        self,
        completions: Sequence[Any],
        sources: Sequence[Any] | str,
        languages: Sequence[str] | str,
    ) -> WalarBreakdown:
        """Rewards and their parts for a batch of rollouts.

        Parameters
        ----------
        completions : sequence, shape (n,)
            Strings or chat message lists (the assistant turns are taken).
        sources : sequence of str, shape (n,), or one str
            The text each rollout translates.
        languages : sequence of str, shape (n,), or one str
            Target language of each rollout (lrpo codes the gates check).

        Returns
        -------
        WalarBreakdown
            Also kept as ``last_breakdown`` and added to the running sums.

        Raises
        ------
        TypeError
            ``completions`` is one ``str``.
        ValueError
            A per-item argument without one entry per completion, or a target language the
            gates cannot check.
        """
        if isinstance(completions, str):
            raise TypeError("completions must be a sequence of completions, got one str")
        if sources is None or languages is None:
            raise ValueError("sources and languages are required: one per completion, or one str")
        texts = [message_text(c) for c in completions]
        n = len(texts)
        sources = broadcast(sources, n, "sources")
        languages = broadcast(languages, n, "languages")
        reason = np.full(n, "scored", dtype=object)
        reason[[text is None for text in texts]] = "no_text"
        reason[[not isinstance(source, str) for source in sources]] = "no_source"

        gate, gate_reason = np.full(n, np.nan), np.full(n, "", dtype=object)
        alive = np.flatnonzero(reason == "scored")
        if alive.size:
            checked = self.gate.check([texts[i] for i in alive], [languages[i] for i in alive])
            gate[alive], gate_reason[alive] = checked.value, checked.reason
            reason[alive[~checked.passed]] = "gated"

        qe, f1 = np.full(n, np.nan), np.full(n, np.nan)
        align_reason = np.full(n, "", dtype=object)
        passed = np.flatnonzero(reason == "scored")
        if passed.size:
            pair = [sources[i] for i in passed], [texts[i] for i in passed]
            qe[passed] = _scores(self.qe.score(*pair), passed.size)
            aligned = self.aligner.align(*pair, [languages[i] for i in passed])
            f1[passed], align_reason[passed] = aligned.f1, aligned.reason
        reason[passed[~np.isfinite(qe[passed])]] = "qe_nan"

        reward = np.full(n, np.nan)
        scored, gated = reason == "scored", reason == "gated"
        reward[scored] = gate[scored] - qe[scored] + self.config.alpha * f1[scored]
        reward[gated] = gate[gated]
        breakdown = WalarBreakdown(
            reward=reward,
            gate=gate,
            gate_reason=gate_reason.astype(str),
            qe=qe,
            f1=f1,
            align_reason=align_reason.astype(str),
            reason=reason.astype(str),
        )
        self._record(breakdown)
        self.last_breakdown = breakdown
        return breakdown

    def _record(self, b: WalarBreakdown) -> None:
        counts = self._counts
        counts["items"] += len(b)
        for name, values in (("reward", b.reward), ("qe", b.qe), ("f1", b.f1)):
            finite = np.isfinite(values)
            counts[name] += float(values[finite].sum())
            counts[f"n_{name}"] += int(finite.sum())
        for name, count in b.counts().items():
            counts[f"reason/{name}"] += count
        for name in ALIGNMENT_REASONS:
            counts[f"align/{name}"] += int(np.count_nonzero(b.align_reason == name))

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Items, the sums and counts of the finite rewards, QE scores and F1 values, and one
        count per :data:`WALAR_REASONS` and per alignment reason since the last reset
        (``reset=True``: start a new window); :func:`walar_metrics` derives the logged
        metrics, so ranks merge exactly. The gate, aligner and QE scorer keep their own."""
        sums = MetricSums(dict(self._counts), walar_metrics)
        if reset:
            self._counts = _empty_sums()
        return sums


def walar_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of :meth:`WalarReward.metric_sums`: ``walar/mean`` (finite rewards),
    ``walar/qe_mean`` and ``walar/f1_mean`` (over the rollouts scored), ``walar/<reason>_rate``
    over all items, ``walar/align_<reason>_rate`` over the rollouts aligned (NaN before any),
    and ``walar/items``."""

    def ratio(total: float, count: float) -> float:
        return float(total / count) if count else math.nan

    items, aligned = sums.get("items", 0.0), sums.get("n_f1", 0.0)
    out = {"walar/items": float(items)}
    for name in ("reward", "qe", "f1"):
        key = "walar/mean" if name == "reward" else f"walar/{name}_mean"
        out[key] = ratio(sums.get(name, 0.0), sums.get(f"n_{name}", 0.0))
    for name in WALAR_REASONS:
        out[f"walar/{name}_rate"] = ratio(sums.get(f"reason/{name}", 0.0), items)
    for name in ALIGNMENT_REASONS:
        out[f"walar/align_{name}_rate"] = ratio(sums.get(f"align/{name}", 0.0), aligned)
    return out


def _empty_sums() -> dict[str, float]:
    keys = ["items", "reward", "n_reward", "qe", "n_qe", "f1", "n_f1"]
    keys += [f"reason/{name}" for name in WALAR_REASONS]
    keys += [f"align/{name}" for name in ALIGNMENT_REASONS]
    return dict.fromkeys(keys, 0.0)


def _scores(values: Any, size: int) -> np.ndarray:
    """A QE scorer's output as ``size`` floats; non-finite values become NaN."""
    scores = np.asarray(values, dtype=np.float64).reshape(-1)
    if scores.size != size:
        raise ValueError(f"the QE scorer returned {scores.size} scores for {size} pairs")
    return np.where(np.isfinite(scores), scores, np.nan)


def _column(kwargs: Mapping[str, Any], names: tuple[str, ...], what: str) -> Any:
    """The first of the ``names`` columns present in a reward function's ``kwargs``."""
    for name in names:
        if name in kwargs:
            return kwargs[name]
    raise ValueError(
        f"no {what} column among the reward-function kwargs: looked for {list(names)}, got "
        f"{sorted(kwargs)}; add the column to the dataset or name it in WalarRewardConfig"
    )
