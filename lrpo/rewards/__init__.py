"""Rewards for multilingual GRPO: the language gate, the semantic reward, score calibration."""

from .alignment import WordAligner, alignment_metrics, word_alignment_f1
from .alignment_config import ALIGNMENT_REASONS, AlignmentConfig, AlignmentResult
from .best_of_n import BatchScorer, Choice, best_of_n, score_sample
from .cleaning import clean_texts
from .gate import LanguageGate
from .gate_config import REASONS, GateConfig, GateResult
from .guards import GUARDS
from .lid import BACKENDS, LidBackend, backend_languages, make_backend, shipped_fasttext_model
from .qe import METRICX_SCORE_TOKEN, MetricXScorer, qe_metrics
from .reward_model import RewardModelScorer, reward_model_metrics
from .scalar import ScoreCalibrator
from .scripts import script_table
from .semantic import RewardBreakdown, SemanticReward, SemanticRewardConfig
from .walar import QualityEstimator, WalarReward, walar_metrics
from .walar_config import WALAR_GATE, WALAR_REASONS, WalarBreakdown, WalarRewardConfig

__all__ = [
    "ALIGNMENT_REASONS",
    "BACKENDS",
    "GUARDS",
    "METRICX_SCORE_TOKEN",
    "REASONS",
    "WALAR_GATE",
    "WALAR_REASONS",
    "AlignmentConfig",
    "AlignmentResult",
    "BatchScorer",
    "Choice",
    "GateConfig",
    "GateResult",
    "LanguageGate",
    "LidBackend",
    "MetricXScorer",
    "QualityEstimator",
    "RewardBreakdown",
    "RewardModelScorer",
    "ScoreCalibrator",
    "SemanticReward",
    "SemanticRewardConfig",
    "WalarBreakdown",
    "WalarReward",
    "WalarRewardConfig",
    "WordAligner",
    "alignment_metrics",
    "backend_languages",
    "best_of_n",
    "clean_texts",
    "make_backend",
    "qe_metrics",
    "reward_model_metrics",
    "score_sample",
    "script_table",
    "shipped_fasttext_model",
    "walar_metrics",
    "word_alignment_f1",
]
