"""`ScoreCalibrator`: any scalar quality score made comparable across languages.

A reward model, QE metric or verifier gives scores whose level depends on the answer's
language (seed 004). Fitted offline on ``(score, language)`` samples, the calibrator maps a
score to [0, 1] on one scale for every language: ``method="mean"`` subtracts the language's
mean offset, ``r = clip((u - (m_lang - m_all) + 1) / 2, 0, 1)`` with ``u`` the score rescaled
from ``bounds`` to [-1, 1]; ``method="quantile"`` takes the score's rank in the language's
sample. Each language is a (lang, lang) entry of a :class:`~lrpo.calibration.CalibrationTable`
fitted with the cosine calibrators (``knots="equivalent"``); a language outside the sample
falls back to the pooled statistics (counted in :meth:`ScoreCalibrator.metric_sums`). NaN and
infinite scores give NaN: an infinite score is no measurement, and clipped it would get the top
reward. ``lrpo calibrate-scores`` fits one from a JSONL sample and :meth:`ScoreCalibrator.save`
writes it; ``lrpo best-of-n --calibrator`` and :meth:`ScoreCalibrator.load` read it back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lrpo.calibration import (
    DEFAULT_QUANTILE_LEVELS,
    BaseCalibrator,
    CalibrationTable,
    KindStats,
    MeanCalibrator,
    NotFittedError,
    PairStats,
    Provenance,
    QuantileCalibrator,
)
from lrpo.languages import validate_languages
from lrpo.metrics import MetricSums

__all__ = ["ScoreCalibrator"]

#: Version of :meth:`ScoreCalibrator.state_dict`.
STATE_VERSION = 1


class ScoreCalibrator:
    """Per-language calibration of a scalar score (reward model, QE metric, verifier 0/1).

    Parameters
    ----------
    method : {"mean", "quantile"}, default "mean"
        Per-language mean offset, or per-language empirical CDF (see the module notes).
    bounds : (float, float) or None, default None
        The score range rescaled to [-1, 1] (outside: clipped); None: the sample's range.
    shrinkage : float, default 0
        For ``"mean"``: pseudo-count pulling a language's offset towards 0 (``n / (n +
        shrinkage)`` of it is applied), for languages with few samples.

    Attributes
    ----------
    low_, high_ : float
        The fitted bounds.
    languages_ : tuple of str
        The languages of the sample (others get the pooled statistics).
    table_ : CalibrationTable
        One (lang, lang) entry per language of the sample.
    calibrator_ : MeanCalibrator or QuantileCalibrator
        Fitted on ``table_`` (its counters show languages outside the sample).

    Examples
    --------
    >>> calibrator = ScoreCalibrator(bounds=(0, 10)).fit(
    ...     [1, 2, 3, 3, 4, 5], ["en", "en", "en", "sw", "sw", "sw"])
    >>> calibrator([2, 4, 3], ["en", "sw", "en"]).round(6).tolist()  # each language's mean -> 0.3
    [0.3, 0.3, 0.4]
    """

    def __init__(
        self,
        *,
        method: Literal["mean", "quantile"] = "mean",
        bounds: tuple[float, float] | None = None,
        shrinkage: float = 0.0,
    ) -> None:
        self.method = method
        self.bounds = bounds
        self.shrinkage = shrinkage

    def get_params(self) -> dict[str, Any]:
        """The constructor settings (JSON-safe)."""
        bounds = None if self.bounds is None else [float(b) for b in self.bounds]
        return {"method": self.method, "bounds": bounds, "shrinkage": self.shrinkage}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"ScoreCalibrator({args})"

    def _check_params(self) -> None:
        if self.method not in ("mean", "quantile"):
            raise ValueError(f"method must be 'mean' or 'quantile', got {self.method!r}")
        if self.bounds is not None:
            low, high = (float(b) for b in self.bounds)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(
                    f"bounds must be two finite numbers (low < high), got {self.bounds!r}"
                )
        shrinkage = self.shrinkage
        if not (isinstance(shrinkage, int | float) and math.isfinite(shrinkage) and shrinkage >= 0):
            raise ValueError(f"shrinkage must be a finite number >= 0, got {shrinkage!r}")

    def fit(
        self, scores: Sequence[float] | np.ndarray, languages: Sequence[str] | np.ndarray
    ) -> ScoreCalibrator:
        """Learn each language's statistics from a sample; returns ``self``.

        Parameters
        ----------
        scores : array-like of float, shape (n,)
            Finite raw scores (no NaN: drop failed items from the sample first).
        languages : sequence of str, shape (n,)
            The language of each scored answer.
        """
        self._check_params()
        x, langs = _checked(scores, languages, fitting=True)
        codes, inverse = np.unique(langs.astype(str), return_inverse=True)
        validate_languages(codes.tolist())
        low, high = (float(b) for b in self.bounds) if self.bounds else (x.min(), x.max())
        if not high > low:
            raise ValueError(
                f"all sample scores equal {low}: nothing to calibrate; give "
                "bounds=(low, high) or a more varied sample"
            )
        self.low_, self.high_ = float(low), float(high)
        unit = self._rescale(x)
        levels = np.asarray(DEFAULT_QUANTILE_LEVELS)
        pairs = []
        for i, code in enumerate(codes.tolist()):
            values = unit[inverse == i]
            knots = tuple(float(k) for k in np.maximum.accumulate(np.quantile(values, levels)))
            mean, std = float(values.mean()), float(values.std())
            stats = KindStats(count=int(values.size), mean=mean, std=std, knots=knots)
            own = {"ref_lang": code, "out_lang": code}  # a (lang, lang) entry
            # upper_anchor is unused here (QuantileCalibrator's upper_anchor stays off).
            pairs.append(PairStats(**own, equivalent=stats, mixture_knots=knots, upper_anchor=1.0))
        sizes = {f"items_{c}": int(n) for c, n in zip(codes, np.bincount(inverse), strict=True)}
        self.table_ = CalibrationTable(
            embedder="scalar-score",
            languages=tuple(codes.tolist()),
            ordered=True,
            quantile_levels=tuple(float(v) for v in levels),
            pairs=tuple(pairs),
            provenance=Provenance(source="ScoreCalibrator.fit", sizes=sizes),
        )
        return self._fit_calibrator()

    def _fit_calibrator(self) -> ScoreCalibrator:
        if self.method == "mean":
            self.calibrator_: BaseCalibrator = MeanCalibrator(shrinkage=self.shrinkage)
        else:
            self.calibrator_ = QuantileCalibrator(knots="equivalent")
        self.calibrator_.fit(self.table_)
        self.languages_ = tuple(self.table_.languages)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise NotFittedError(
                "this ScoreCalibrator is not fitted yet: call "
                "fit(scores, languages) on an offline sample first"
            )

    def _rescale(self, x: np.ndarray) -> np.ndarray:
        unit = (x - self.low_) * (2.0 / (self.high_ - self.low_)) - 1.0
        return np.clip(unit, -1.0, 1.0, out=unit)

    def __call__(
        self, scores: Sequence[float] | np.ndarray, languages: Sequence[str] | np.ndarray
    ) -> np.ndarray:
        """Rewards in [0, 1] for scores of answers in ``languages`` (NaN where not finite).

        Returns
        -------
        ndarray of float64, shape (n,)
        """
        self._check_fitted()
        x, langs = _checked(scores, languages, fitting=False)
        x = np.where(np.isfinite(x), x, np.nan)
        return self.calibrator_(self._rescale(x), langs, langs)

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Counts of the scores calibrated since fit or the last reset: NaN scores
        (``calibration/nan_scores``) and languages outside the sample
        (``calibration/unknown_language/<lang>``), as the cosine calibrators count them."""
        self._check_fitted()
        return self.calibrator_.metric_sums(reset=reset)

    def state_dict(self) -> dict[str, Any]:
        """Settings, bounds and the per-language table (JSON-safe)."""
        self._check_fitted()
        return {
            "format_version": STATE_VERSION,
            "params": self.get_params(),
            "low": self.low_,
            "high": self.high_,
            "table": self.table_.model_dump(mode="json"),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ScoreCalibrator:
        """Rebuild a fitted calibrator from :meth:`state_dict`."""
        version = state.get("format_version")
        if version != STATE_VERSION:
            raise ValueError(f"ScoreCalibrator state format {version!r} is not {STATE_VERSION}")
        params = dict(state["params"])
        if params.get("bounds") is not None:
            params["bounds"] = tuple(params["bounds"])
        self = cls(**params)
        self._check_params()
        self.low_, self.high_ = float(state["low"]), float(state["high"])
        self.table_ = CalibrationTable.model_validate(state["table"])
        return self._fit_calibrator()

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` as JSON (strict: no NaN) and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.state_dict(), allow_nan=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ScoreCalibrator:
        """Read a calibrator written by :meth:`save` (or ``lrpo calibrate-scores``).

        Raises
        ------
        ValueError
            The file is not JSON, or not a calibrator state of this format version.
        """
        path = Path(path)
        try:
            state = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON: {error}") from None
        if not isinstance(state, dict) or not {"params", "low", "high", "table"} <= set(state):
            raise ValueError(
                f"{path} is not a ScoreCalibrator state: write one with ScoreCalibrator.save "
                "or lrpo calibrate-scores"
            )
        return cls.from_state_dict(state)


def _checked(scores: Any, languages: Any, *, fitting: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float64 and languages, 1-D of one length (when ``fitting``: finite, some)."""
    x, langs = np.asarray(scores, dtype=np.float64), np.asarray(languages)
    if x.ndim != 1 or x.shape != langs.shape:
        raise ValueError(
            f"scores and languages must be 1-D of the same length, got shapes "
            f"{x.shape} and {langs.shape}"
        )
    if fitting and x.size == 0:
        raise ValueError("cannot fit a ScoreCalibrator on an empty sample")
    if fitting and not np.all(np.isfinite(x)):
        raise ValueError(
            f"scores must be finite to fit, got {int((~np.isfinite(x)).sum())} "
            "NaN/inf values; drop them from the sample"
        )
    return x, langs
