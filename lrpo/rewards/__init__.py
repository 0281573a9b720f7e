"""Rewards for multilingual GRPO: the language gate, the semantic reward, score calibration."""

from .alignment import WordAligner, alignment_metrics, word_alignment_f1
from .alignment_config import ALIGNMENT_REASONS, AlignmentConfig, AlignmentResult
from .best_of_n import BatchScorer, Choice, best_of_n
from .cleaning import clean_texts
from .gate import LanguageGate
from .gate_config import REASONS, GateConfig, GateResult
from .guards import GUARDS
from .lid import BACKENDS, LidBackend, backend_languages, make_backend, shipped_fasttext_model
from .reward_model import RewardModelScorer, reward_model_metrics
from .scalar import ScoreCalibrator
from .scripts import script_table
from .semantic import RewardBreakdown, SemanticReward, SemanticRewardConfig

__all__ = [
    "ALIGNMENT_REASONS",
    "BACKENDS",
    "GUARDS",
    "REASONS",
    "AlignmentConfig",
    "AlignmentResult",
    "BatchScorer",
    "Choice",
    "GateConfig",
    "GateResult",
    "LanguageGate",
    "LidBackend",
    "RewardBreakdown",
    "RewardModelScorer",
    "ScoreCalibrator",
    "SemanticReward",
    "SemanticRewardConfig",
    "WordAligner",
    "alignment_metrics",
    "backend_languages",
    "best_of_n",
    "clean_texts",
    "make_backend",
    "reward_model_metrics",
    "script_table",
    "shipped_fasttext_model",
    "word_alignment_f1",
]
