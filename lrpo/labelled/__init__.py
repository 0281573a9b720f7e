"""Rollouts whose routing context and reference travel in one packed label string.

File-based trainers (OpenRLHF's agents and reward files, verl's reward function) and
``lrpo serve`` all read lrpo's packed label (:mod:`.labels`) and score labelled rollouts the
same way (:mod:`.scoring`).
"""

from .labels import LabelError, PackedLabel, pack_label, unpack_label
from .scoring import ScoredRollouts, response_from_query, score_labelled

__all__ = [
    "LabelError",
    "PackedLabel",
    "ScoredRollouts",
    "pack_label",
    "response_from_query",
    "score_labelled",
    "unpack_label",
]
