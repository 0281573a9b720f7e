"""The steps of :meth:`SemanticReward.score`: read inputs, score, calibrate, gate, compose.

The gate judges each completion without lrpo's directive texts: a completion that repeats
"Answer in German." has not written German.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrpo.calibration import (
    SHIPPED_TABLE,
    BaseCalibrator,
    CalibrationTable,
    MeanCalibrator,
    ProbabilityCalibrator,
    QuantileCalibrator,
)
from lrpo.embedders import CachedEmbedder, Embedder, load_embedder

from .copies import message_text, without_directives
from .guards import Batch
from .semantic_config import SemanticRewardConfig

if TYPE_CHECKING:
    from .semantic import SemanticReward


def broadcast(values: Any, n: int, name: str) -> list | None:
    """A per-item list of length ``n`` (a str is repeated), or None."""
    if values is None:
        return None
    if isinstance(values, str):
        return [values] * n
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence, got {type(values).__name__}") from None
    if len(items) != n:
        raise ValueError(
            f"{name} has {len(items)} items for {n} completions; give one per completion (in "
            "the same order)"
        )
    return items


def column(kwargs: Mapping[str, Any], names: tuple[str, ...], what: str, required: bool) -> Any:
    """The first of the ``names`` columns present in a reward function's ``kwargs``."""
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


#: ``scorer(prompts, completions, references) -> scores`` over the scored items.
Scorer = Callable[[list[str | None], list[str], list[str | None]], Sequence[float]]


@dataclass(frozen=True)
class Similarity:
    """Cosines of m completions to their references, their embeddings (m, d) and, for online
    calibration, each one's cosine to the reference of ``partner``, an item of another prompt."""

    raw: np.ndarray
    vectors: np.ndarray
    mismatch: np.ndarray | None = None
    partner: np.ndarray | None = None


def embedders(
    reward: SemanticReward, embedder: Embedder | None
) -> tuple[CachedEmbedder | None, Embedder | None]:
    """The reference cache and the completion embedder (completions are embedded once each:
    caching them would only cost memory); built from the config unless there is a scorer."""
    if embedder is None and reward.scorer is None:
        embedder = load_embedder(reward.config.embedder)
    if embedder is None:
        return None, None
    if isinstance(embedder, CachedEmbedder):
        return embedder, embedder.embedder
    if isinstance(embedder, Embedder):
        return CachedEmbedder(embedder, max_entries=reward.config.cache_size), embedder
    raise TypeError(f"embedder must be an Embedder, got {type(embedder).__name__}")


def other_prompt(references: list[str]) -> np.ndarray | None:
    """For each item, the first item whose reference is the next distinct one (cyclically).

    Examples
    --------
    >>> other_prompt(["a", "a", "b", "c"]).tolist()
    [2, 2, 3, 0]
    """
    groups: dict[str, int] = {}
    group = np.array([groups.setdefault(text, len(groups)) for text in references])
    if len(groups) < 2:
        return None
    first = np.empty(len(groups), dtype=np.intp)
    first[group[::-1]] = np.arange(len(group))[::-1]
    return first[(group + 1) % len(groups)]


def raw_scores(
    reward: SemanticReward, batch: Batch, alive: np.ndarray
) -> tuple[np.ndarray, Similarity | None]:
    """The raw score of each ``alive`` item: ``batch.scores``, else the reward's scorer, else
    cosines (with the mismatches for online calibration, given two distinct references)."""
    if batch.scores is not None:
        return batch.scores[alive], None
    live_texts, live_refs = [batch.texts[i] for i in alive], [batch.refs[i] for i in alive]
    if reward.scorer is not None:
        prompts = batch.prompts
        live_prompts = [message_text(prompts[i], ("user",)) if prompts else None for i in alive]
        values = np.asarray(reward.scorer(live_prompts, live_texts, live_refs), dtype=np.float64)
        if values.shape != (alive.size,):
            raise ValueError(f"scorer returned shape {values.shape} for {alive.size} items")
        return values, None
    vectors = reward._completion_embedder.embed(live_texts)
    reference_vectors = reward.reference_cache.embed(live_refs)
    raw = np.einsum("ij,ij->i", vectors, reference_vectors, dtype=np.float64)
    partner = other_prompt(live_refs) if getattr(reward.calibrator, "online", None) else None
    if partner is None:
        return raw, Similarity(raw, vectors)
    mismatch = np.einsum("ij,ij->i", vectors, reference_vectors[partner], dtype=np.float64)
    return raw, Similarity(raw, vectors, mismatch, partner)


def build_calibrator(
    reward: SemanticReward, calibrator: BaseCalibrator | None
) -> BaseCalibrator | None:
    """The given pair calibrator, checked, or the one the config names, fitted on its table
    (none for a scorer); either must be of the reward's embedder."""
    config, cache = reward.config, reward.reference_cache
    fingerprint = cache.fingerprint if cache is not None else None
    if calibrator is None:
        if config.calibration == "none" or reward.scorer is not None:
            return None
        path = config.calibration_table or SHIPPED_TABLE
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"calibration table {path} not found; pass calibration_table=<path> or "
                "calibration='none'"
            )
        table = CalibrationTable.load(path, embedder=fingerprint)
        if config.calibration == "mean":
            return MeanCalibrator(online=config.online_calibration).fit(table)
        if config.calibration == "probability":
            return ProbabilityCalibrator().fit(table)
        return QuantileCalibrator().fit(table)
    if not isinstance(calibrator, BaseCalibrator):
        raise TypeError(
            "calibrator must be a fitted pair calibrator (MeanCalibrator, QuantileCalibrator, "
            "ProbabilityCalibrator), got "
            f"{type(calibrator).__name__}"
        )
    calibrator.check_fitted()
    if fingerprint is not None and calibrator.embedder_ != fingerprint:
        raise ValueError(
            f"the calibrator was fitted on a table of embedder {calibrator.embedder_!r}, but "
            f"rewards use {fingerprint!r}: fit it on that embedder's table"
        )
    return calibrator


def reference_languages(reward: SemanticReward, batch: Batch, usable: np.ndarray) -> np.ndarray:
    """Per item: the given reference language, the configured one, detected, or requested.

    Each distinct reference of the ``usable`` items is detected once, with the gate's
    ``identify`` when it has one (it leaves the gate's counts alone), else with its ``check``.
    """
    gate, config, refs, requested = reward.gate, reward.config, batch.refs, batch.requested
    if batch.ref_given is not None:
        return np.array(batch.ref_given, dtype=object)
    if config.reference_language is not None:
        return np.full(len(refs), config.reference_language, dtype=object)
    out = requested.copy()
    if gate is None:
        return out
    rows = np.flatnonzero(usable)
    distinct = list({refs[i]: None for i in rows if isinstance(refs[i], str)})
    if distinct:
        if callable(getattr(gate, "identify", None)):
            detected = gate.identify(distinct)
        else:
            probe = requested[rows[0]]  # usable items have a valid code
            detected = gate.check(distinct, [probe] * len(distinct)).detected
        lookup = dict(zip(distinct, detected, strict=True))
        for i in rows:
            code = lookup.get(refs[i])
            if code is not None:
                out[i] = code
    return out


def output_languages(pair_key: str, requested: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """The pair's output language: detected where found (``pair_key="detected"``), else
    requested."""
    out = requested.copy()
    if pair_key == "detected":
        found = detected != None  # noqa: E711 (elementwise on an object array)
        out[found] = detected[found]
    return out


def calibrate(
    reward: SemanticReward, scalar: bool, raw: np.ndarray, ref: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Raw scores in [0, 1]: by pair (a cosine) or output language (a scalar score).

    Without a calibrator a cosine is mapped by ``raw_mapping`` and a scalar score clipped.
    """
    if scalar:
        if reward.score_calibrator is not None:
            return reward.score_calibrator(raw, out.astype(str))
        return np.clip(raw, 0.0, 1.0)
    if reward.calibrator is not None:
        return reward.calibrator(raw, ref.astype(str), out.astype(str))
    if reward.config.raw_mapping == "affine":
        return np.clip((raw + 1.0) / 2.0, 0.0, 1.0)
    return np.clip(raw, 0.0, 1.0)


def threshold(calibrated: np.ndarray, tau: float | None) -> np.ndarray:
    """Seed 000's threshold: 0 below ``tau``, ``(c - tau) / (1 - tau)`` above; NaN kept.

    Examples
    --------
    >>> threshold(np.array([0.2, 0.75, np.nan]), 0.5).tolist()
    [0.0, 0.5, nan]
    """
    if tau is None:
        return calibrated.copy()
    quality = np.where(calibrated >= tau, (calibrated - tau) / (1.0 - tau), 0.0)
    quality[np.isnan(calibrated)] = np.nan
    return quality


def gate_items(gate: Any, batch: Batch, alive: np.ndarray) -> dict[str, np.ndarray]:
    """Gate the ``alive`` items (``str`` texts): the gate's :class:`RewardBreakdown` fields,
    None, ``""`` or NaN where not gated; without a gate the value is 1."""
    n = len(batch.texts)
    detected, reason = np.full(n, None, dtype=object), np.full(n, "", dtype=object)
    confidence, share, value = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if gate is None:
        value[alive] = 1.0
    elif alive.size:
        codes = batch.requested[alive].tolist()
        live = [without_directives(batch.texts[i], c) for i, c in zip(alive, codes, strict=True)]
        result = gate.check(live, codes)
        detected[alive] = np.asarray(result.detected, dtype=object)
        reason[alive] = np.asarray(result.reason, dtype=object)
        confidence[alive] = result.confidence
        share[alive] = result.script_share
        value[alive] = result.value
    return {
        "gate": value,
        "detected": detected,
        "confidence": confidence,
        "script_share": share,
        "gate_reason": reason.astype(str),
    }


def compose(quality: np.ndarray, gate: np.ndarray, config: SemanticRewardConfig) -> np.ndarray:
    """``R = q * g`` (``composition="gate"``, LRPO) or ``lambda_sim q + lambda_lang g``.

    Examples
    --------
    >>> config = SemanticRewardConfig(composition="weighted")
    >>> compose(np.array([0.5]), np.array([1.0]), config).tolist()
    [1.75]
    """
    if config.composition == "gate":
        return quality * gate
    return config.lambda_sim * quality + config.lambda_lang * gate
