"""Rewards for multilingual GRPO: the language gate (and, later, semantic rewards)."""

from .gate import REASONS, GateConfig, GateResult, LanguageGate
from .guards import GUARDS
from .lid import BACKENDS, LidBackend, backend_languages, make_backend
from .scalar import ScoreCalibrator
from .scripts import clean_texts, letter_stats, script_table
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
    "letter_stats",
    "make_backend",
    "script_table",
]
