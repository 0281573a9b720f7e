"""From a raw score to the quality ``q`` of the reward: the pair, the calibrator, the threshold.

Each item is calibrated by its pair (reference language, output language). The output
language is the detected one (``pair_key="detected"``, the reference's choice; the requested
one when nothing is detected) or the requested one. The reference language is given, set in
the config, or detected once per distinct reference. See :mod:`lrpo.rewards.semantic` for the
scale each calibrator gives.
"""

from __future__ import annotations

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

from .scalar import ScoreCalibrator
from .semantic_config import SemanticRewardConfig
from .similarity import Similarity

__all__ = [
    "build_calibrator",
    "calibrate",
    "learn_mismatches",
    "output_languages",
    "reference_languages",
    "threshold",
]


def build_calibrator(
    config: SemanticRewardConfig, calibrator: BaseCalibrator | None, fingerprint: str | None
) -> BaseCalibrator | None:
    """The given pair calibrator, checked, or the one ``config`` names, fitted on its table.

    Parameters
    ----------
    config : SemanticRewardConfig
        ``calibration`` and ``calibration_table``.
    calibrator : BaseCalibrator or None
        A fitted calibrator given by the user; None: build one.
    fingerprint : str or None
        The reward's embedder (None: none, a scalar score); a built calibrator's table and a
        given one must be of this embedder.

    Returns
    -------
    BaseCalibrator or None
        None with ``calibration="none"`` when none is given.

    Raises
    ------
    FileNotFoundError
        When the table does not exist.
    ValueError
        When the calibrator was fitted on another embedder's table.
    """
    if calibrator is None:
        if config.calibration == "none":
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
        return QuantileCalibrator().fit(table)
    if not isinstance(calibrator, BaseCalibrator):
        raise TypeError(
            "calibrator must be a fitted MeanCalibrator or QuantileCalibrator, got "
            f"{type(calibrator).__name__}"
        )
    calibrator.check_fitted()
    if fingerprint is not None and calibrator.embedder_ != fingerprint:
        raise ValueError(
            f"the calibrator was fitted on a table of embedder {calibrator.embedder_!r}, but "
            f"rewards use {fingerprint!r}: fit it on that embedder's table"
        )
    return calibrator


def reference_languages(
    gate: Any,
    config: SemanticRewardConfig,
    refs: list[Any],
    requested: np.ndarray,
    given: list[Any] | None,
    usable: np.ndarray,
) -> np.ndarray:
    """Per item: the given reference language, the configured one, detected, or requested.

    Each distinct reference of the ``usable`` items is detected once, with the gate's
    ``identify`` when it has one (it leaves the gate's counts alone), else with its ``check``.
    """
    if given is not None:
        return np.array(given, dtype=object)
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


def output_languages(
    config: SemanticRewardConfig, requested: np.ndarray, detected: np.ndarray
) -> np.ndarray:
    """The pair's output language: detected where found (``pair_key="detected"``), else
    requested."""
    out = requested.copy()
    if config.pair_key == "detected":
        found = detected != None  # noqa: E711 (elementwise on an object array)
        out[found] = detected[found]
    return out


def calibrate(
    raw: np.ndarray,
    ref_lang: np.ndarray,
    out_lang: np.ndarray,
    *,
    scalar: bool,
    calibrator: BaseCalibrator | None,
    score_calibrator: ScoreCalibrator | None,
    raw_mapping: str,
) -> np.ndarray:
    """Raw scores in [0, 1]: by pair (a cosine) or output language (a scalar score).

    Without a calibrator a cosine is mapped by ``raw_mapping`` (``"affine"``: (s + 1) / 2,
    ``"clip"``: max(s, 0)) and a scalar score clipped.
    """
    if scalar:
        if score_calibrator is not None:
            return score_calibrator(raw, out_lang.astype(str))
        return np.clip(raw, 0.0, 1.0)
    if calibrator is not None:
        return calibrator(raw, ref_lang.astype(str), out_lang.astype(str))
    if raw_mapping == "affine":
        return np.clip((raw + 1.0) / 2.0, 0.0, 1.0)
    return np.clip(raw, 0.0, 1.0)


def learn_mismatches(
    calibrator: Any, found: Similarity, ref_lang: np.ndarray, out_lang: np.ndarray
) -> None:
    """Online calibration: each completion's mismatch, in its partner's reference language.

    Called after the batch is calibrated, so that a batch is never judged on itself.

    Parameters
    ----------
    calibrator : MeanCalibrator
        An online calibrator (``partial_fit``).
    found : Similarity
        The cosines of the scored items, with their mismatches and partners.
    ref_lang, out_lang : numpy.ndarray, shape (m,)
        The pair languages of the scored items.
    """
    calibrator.partial_fit(
        found.mismatch, ref_lang[found.partner].astype(str), out_lang.astype(str)
    )


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
