"""Reward calibration: make raw embedding similarities comparable across language pairs."""

from .base import BaseCalibrator, NotFittedError
from .calibrators import MeanCalibrator, QuantileCalibrator
from .table import (
    DEFAULT_QUANTILE_LEVELS,
    KINDS,
    CalibrationTable,
    KindStats,
    PairStats,
    Provenance,
)

__all__ = [
    "DEFAULT_QUANTILE_LEVELS",
    "KINDS",
    "BaseCalibrator",
    "CalibrationTable",
    "KindStats",
    "MeanCalibrator",
    "NotFittedError",
    "PairStats",
    "Provenance",
    "QuantileCalibrator",
]
