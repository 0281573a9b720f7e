"""Rollouts whose routing context and reference travel in one packed label string
(:mod:`.labels`), scored the same way by every file-based trainer and ``lrpo serve``
(:mod:`.scoring`)."""

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
