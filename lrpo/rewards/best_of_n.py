"""Best-of-n: keep the best of n candidate answers per prompt, by any lrpo scorer.

Seed 004 aligns a model in a target language by best-of-n reranking with a reward model trained
in another language. Candidates of one prompt may be in different languages (a routed group),
and a reward model's raw scores have a language-dependent level: with a fitted
:class:`~lrpo.rewards.ScoreCalibrator`, candidates are ranked by their calibrated score, so a
language the reward model favours (or penalises) across the board no longer wins (or loses)
for that alone. Without one, the raw scores rank them.

A scorer is any callable of TRL's reward-function shape (:class:`BatchScorer`): a
:class:`~lrpo.rewards.RewardModelScorer`, a :class:`~lrpo.rewards.SemanticReward` (its
``reference`` passed as a per-prompt column), or a TRL reward function that reads ``language``.
:func:`score_sample` scores the sample a calibrator is fitted on with the same scorer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from .scalar import ScoreCalibrator

__all__ = ["BatchScorer", "Choice", "best_of_n", "score_sample"]


@runtime_checkable
class BatchScorer(Protocol):
    """Scores a batch of (prompt, completion, language) items: called as ``scorer(prompts=...,
    completions=..., language=..., **columns)``, it returns one float (or None: no score) per
    completion."""

    def __call__(
        self, prompts: list[Any], completions: list[Any], **columns: Any
    ) -> Sequence[float | None] | np.ndarray: ...


@dataclass(frozen=True)
class Choice:
    """The candidate kept for one prompt, and the scores of all its candidates.

    ``index`` is None (and ``completion``, ``language`` too) when no candidate has a finite
    score; ``calibrated`` and ``calibrated_scores`` are None without a calibrator. Ties go to
    the first candidate.
    """

    index: int | None
    completion: Any
    language: str | None
    raw: float
    calibrated: float | None
    raw_scores: list[float]
    calibrated_scores: list[float] | None


def best_of_n(
    scorer: BatchScorer,
    prompts: Sequence[Any],
    candidates: Sequence[Sequence[Any]],
    languages: Sequence[str],
    *,
    candidate_languages: Sequence[Sequence[str] | None] | None = None,
    calibrator: ScoreCalibrator | None = None,
    columns: Mapping[str, Sequence[Any]] | None = None,
    chunk_size: int = 256,
    progress: bool = False,
) -> list[Choice]:
    """Rerank each prompt's candidates and keep the best.

    Parameters
    ----------
    scorer : BatchScorer
        Gives each candidate its raw score (NaN or None: unscored, never chosen).
    prompts : sequence, shape (p,)
        The prompts (str or chat message lists, as the scorer takes them).
    candidates : sequence of non-empty sequences, shape (p, n_i)
        Each prompt's candidates; n may differ between prompts.
    languages : sequence of str, shape (p,)
        Each prompt's language: the language of its candidates unless given below.
    candidate_languages : sequence, shape (p,), optional
        Per prompt, one language per candidate (or None: the prompt's language).
    calibrator : ScoreCalibrator, optional
        Fitted on raw scores of this scorer; candidates are then ranked by calibrated score.
    columns : mapping of str to sequence of shape (p,), optional
        Per-prompt columns the scorer reads (``reference`` for a SemanticReward), repeated
        for each candidate.
    chunk_size : int, default 256
        Candidates per scorer call, about (whole prompts are kept together).
    progress : bool, default False
        Show a progress bar over the prompts.

    Examples
    --------
    >>> def length(prompts, completions, **columns):
    ...     return [len(c) for c in completions]
    >>> [c.index for c in best_of_n(length, ["Hi?", "Name?"], [["Hey", "Hello"], ["Ana"]],
    ...                             ["en", "en"])]
    [1, 0]
    """
    groups = _groups(prompts, candidates, languages, candidate_languages, columns)
    if calibrator is not None and not isinstance(calibrator, ScoreCalibrator):
        raise TypeError(f"calibrator must be a ScoreCalibrator, got {type(calibrator).__name__}")
    if calibrator is not None:
        calibrator([], [])  # NotFittedError now, not after the first chunk has been scored
    _check_chunk_size(chunk_size)
    choices: list[Choice] = []
    with tqdm(total=len(groups), desc="best-of-n", unit="prompt", disable=not progress) as bar:
        for chunk in _chunks(groups, chunk_size):
            items = [item for group in chunk for item in group]
            raw = _scores(scorer, items)
            calibrated = None
            if calibrator is not None:
                calibrated = calibrator(raw, [item.language for item in items])
            start = 0
            for group in chunk:
                span = slice(start, start + len(group))
                choices.append(
                    _choose(group, raw[span], None if calibrated is None else calibrated[span])
                )
                start = span.stop
            bar.update(len(chunk))
    return choices


def score_sample(
    scorer: BatchScorer,
    prompts: Sequence[Any],
    completions: Sequence[Any],
    languages: Sequence[str],
    *,
    columns: Mapping[str, Sequence[Any]] | None = None,
    chunk_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Raw scores of a sample of answers, to fit a :class:`ScoreCalibrator` on.

    Parameters
    ----------
    scorer : BatchScorer
        The scorer that will rank the candidates later (its raw scores are what is calibrated).
    prompts, completions, languages : sequences of one length (n,)
        Each answer, its prompt and its language.
    columns : mapping of str to sequence of shape (n,), optional
        Per-answer columns the scorer reads (``reference`` for a SemanticReward, ``source``
        for a MetricXScorer).
    chunk_size : int, default 256
        Answers per scorer call.
    progress : bool, default False
        Show a progress bar over the answers.

    Returns
    -------
    ndarray of float64, shape (n,)
        NaN where the scorer gave None or a non-finite score (drop those before fitting).

    Examples
    --------
    >>> def length(prompts, completions, **columns):
    ...     return [len(c) for c in completions]
    >>> score_sample(length, ["Hi?", "Hi?"], ["Hey", "Jambo"], ["en", "sw"]).tolist()
    [3.0, 5.0]
    """
    n = len(completions)
    for name, values in {"prompts": prompts, "completions": completions}.items():
        if isinstance(values, str):
            raise TypeError(f"{name} must be a sequence, got one str")
    if len(prompts) != n or len(languages) != n or isinstance(languages, str):
        raise ValueError(
            f"prompts, completions and languages must have one entry per answer, got "
            f"{len(prompts)}, {n} and {len(languages)}"
        )
    columns = dict(columns or {})
    for name, values in columns.items():
        if len(values) != n:
            raise ValueError(f"column {name!r} has {len(values)} entries for {n} answers")
    _check_chunk_size(chunk_size)
    items = [
        _Item(p, c, lang, {name: values[i] for name, values in columns.items()})
        for i, (p, c, lang) in enumerate(zip(prompts, completions, languages, strict=True))
    ]
    scores = np.full(n, np.nan)
    with tqdm(total=n, desc="scoring", unit="answer", disable=not progress) as bar:
        for start in range(0, n, chunk_size):
            chunk = items[start : start + chunk_size]
            scores[start : start + len(chunk)] = _scores(scorer, chunk)
            bar.update(len(chunk))
    return scores


def _check_chunk_size(chunk_size: Any) -> None:
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")


@dataclass(frozen=True)
class _Item:
    """One candidate with what the scorer reads of it."""

    prompt: Any
    completion: Any
    language: str
    columns: dict[str, Any]


def _groups(
    prompts: Sequence[Any],
    candidates: Sequence[Sequence[Any]],
    languages: Sequence[str],
    candidate_languages: Sequence[Sequence[str] | None] | None,
    columns: Mapping[str, Sequence[Any]] | None,
) -> list[list[_Item]]:
    """The candidates of each prompt as items, after checking every length."""
    p = len(prompts)
    per_prompt = {"candidates": candidates, "languages": languages}
    if candidate_languages is not None:
        per_prompt["candidate_languages"] = candidate_languages
    taken = {"prompts", "completions", "language"} & set(columns or {})
    if taken:
        raise ValueError(f"columns {sorted(taken)} are what best_of_n passes itself: rename them")
    per_prompt.update(columns or {})
    for name, values in per_prompt.items():
        if isinstance(values, str) or len(values) != p:
            raise ValueError(f"{name} must have one entry per prompt ({p}), got {values!r:.80}")
    groups = []
    for i, group in enumerate(candidates):
        if isinstance(group, str) or not len(group):
            raise ValueError(
                f"candidates[{i}] must be a non-empty list of candidates, got {group!r:.80}"
            )
        langs = None if candidate_languages is None else candidate_languages[i]
        if langs is None:
            langs = [languages[i]] * len(group)
        elif isinstance(langs, str) or len(langs) != len(group):
            raise ValueError(
                f"candidate_languages[{i}] must have one language per candidate "
                f"({len(group)}), got {langs!r:.80}"
            )
        extra = {name: values[i] for name, values in (columns or {}).items()}
        groups.append(
            [_Item(prompts[i], c, lang, extra) for c, lang in zip(group, langs, strict=True)]
        )
    return groups


def _chunks(groups: list[list[_Item]], size: int) -> list[list[list[_Item]]]:
    """Consecutive runs of whole groups holding about ``size`` candidates each."""
    chunks: list[list[list[_Item]]] = [[]]
    filled = 0
    for group in groups:
        if filled >= size:
            chunks.append([])
            filled = 0
        chunks[-1].append(group)
        filled += len(group)
    return [chunk for chunk in chunks if chunk]


def _scores(scorer: BatchScorer, items: list[_Item]) -> np.ndarray:
    """The scorer's raw scores of ``items`` as float64, None and non-finite values as NaN."""
    columns = {name: [item.columns[name] for item in items] for name in items[0].columns}
    scores = scorer(
        prompts=[item.prompt for item in items],
        completions=[item.completion for item in items],
        language=[item.language for item in items],
        **columns,
    )
    scores = [np.nan if s is None else s for s in scores]
    if len(scores) != len(items):
        raise ValueError(f"the scorer returned {len(scores)} scores for {len(items)} candidates")
    raw = np.asarray(scores, dtype=np.float64)
    return np.where(np.isfinite(raw), raw, np.nan)


def _choose(group: list[_Item], raw: np.ndarray, calibrated: np.ndarray | None) -> Choice:
    """The first candidate of highest finite ranking score (calibrated, else raw)."""
    ranking = raw if calibrated is None else calibrated
    finite = np.isfinite(ranking)
    index = int(np.argmax(np.where(finite, ranking, -np.inf))) if finite.any() else None
    chosen = None if index is None else group[index]

    def at(scores: np.ndarray) -> float:
        return np.nan if index is None else float(scores[index])

    return Choice(
        index=index,
        completion=None if chosen is None else chosen.completion,
        language=None if chosen is None else chosen.language,
        raw=at(raw),
        calibrated=None if calibrated is None else at(calibrated),
        raw_scores=raw.tolist(),
        calibrated_scores=None if calibrated is None else calibrated.tolist(),
    )
