"""Rewards for multilingual GRPO: the language gate, the semantic reward, score calibration."""

from .cleaning import clean_texts
from .gate import LanguageGate
from .gate_config import REASONS, GateConfig, GateResult
from .guards import GUARDS
from .lid import BACKENDS, LidBackend, backend_languages, make_backend, shipped_fasttext_model
from .scalar import ScoreCalibrator
from .scripts import script_table
from .semantic import RewardBreakdown, SemanticReward, SemanticRewardConfig

__all__ = [
    "BACKENDS",
    "GUARDS",
    "REASONS",
    "GateConfig",
    "GateResult",
    "LanguageGate",
    "LidBackend",
    "RewardBreakdown",
    "ScoreCalibrator",
    "SemanticReward",
    "SemanticRewardConfig",
    "backend_languages",
    "clean_texts",
    "make_backend",
    "script_table",
    "shipped_fasttext_model",
]
