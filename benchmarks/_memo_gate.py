"""A `LanguageGate` that checks each (text, requested language) once and remembers the verdict.

The gate is a pure function of the text, the requested language and its settings, so a
closed-loop benchmark, whose rollouts are drawn from a fixed pool of texts, can reuse its
verdicts: the rewards are those of the real gate, at a fraction of its cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrpo.rewards import LanguageGate
from lrpo.rewards.gate import GateResult

__all__ = ["MemoGate"]

_FIELDS = (
    "detected",
    "confidence",
    "language_share",
    "script_share",
    "letter_share",
    "value",
    "reason",
)


class MemoGate:
    """``check`` and ``identify`` of ``gate``, each distinct input computed once."""

    def __init__(self, gate: LanguageGate) -> None:
        self.gate = gate
        self.languages = gate.languages
        self.config = gate.config
        self._checked: dict[tuple[str, str], tuple] = {}
        self._identified: dict[str, object] = {}

    def check(self, texts: Sequence[str], requested: Sequence[str] | str) -> GateResult:
        texts = list(texts)
        codes = [requested] * len(texts) if isinstance(requested, str) else list(requested)
        keys = list(zip(texts, codes, strict=True))
        missing = list(dict.fromkeys(k for k in keys if k not in self._checked))
        if missing:
            result = self.gate.check([t for t, _ in missing], [c for _, c in missing])
            columns = [getattr(result, name) for name in _FIELDS]
            for i, key in enumerate(missing):
                self._checked[key] = tuple(column[i] for column in columns)
        rows = [self._checked[k] for k in keys]
        values = {}
        for j, name in enumerate(_FIELDS):
            kind = object if name in ("detected", "reason") else np.float64
            values[name] = np.array([row[j] for row in rows], dtype=kind)
        return GateResult(**values)

    def identify(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._identified]
        if missing:
            self._identified.update(zip(missing, self.gate.identify(missing), strict=True))
        return np.array([self._identified[t] for t in texts], dtype=object)
