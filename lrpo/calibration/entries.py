"""Entries of a calibration table: statistics of one kind, of one pair, and provenance
(conventions: :mod:`lrpo.calibration.table`)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from lrpo.languages import get_language

__all__ = [
    "DEFAULT_QUANTILE_LEVELS",
    "FORMAT_VERSION",
    "KINDS",
    "MAX_COUNT",
    "SCORE_TOLERANCE",
    "KindStats",
    "PairStats",
    "Provenance",
    "check_knots",
]

#: Version of the JSON layout; a file with another version is refused.
FORMAT_VERSION = 1
#: The kinds of offline pairs, in the order they are stored.
KINDS = ("equivalent", "mismatch", "hard_negative")
#: 0, 0.01, ..., 1 (101 levels): the percentiles, min and max included.
DEFAULT_QUANTILE_LEVELS: tuple[float, ...] = tuple(i / 100 for i in range(101))
#: Scores this far outside [-1, 1] are clipped (float32 rounding); further ones are errors.
SCORE_TOLERANCE = 1e-5
#: Largest count or size a table may hold: calibrators weigh counts as float64, exact to 2**53.
MAX_COUNT = 2**53

# A table's numbers are strict (StrictInt, StrictFloat): JSON ``true`` is no count of 1 and
# "0.5" no mean (an int is a valid float).
_Size = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]


def check_knots(knots: Sequence[float], where: str) -> None:
    values = np.asarray(knots, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where}: knots must be finite, got {list(knots)}")
    if values.size and (values.min() < -1.0 or values.max() > 1.0):
        raise ValueError(f"{where}: knots must lie in [-1, 1], got {values.min()}..{values.max()}")
    drops = np.flatnonzero(np.diff(values) < 0)
    if drops.size:
        i = int(drops[0])
        raise ValueError(
            f"{where}: knots must be non-decreasing, knot {i + 1} ({values[i + 1]}) < "
            f"knot {i} ({values[i]})"
        )


class KindStats(BaseModel):
    """Statistics of one kind of pair (e.g. the equivalents) of one language pair.

    Examples
    --------
    >>> KindStats(count=2, mean=0.5, std=0.1, knots=(0.4, 0.6)).count
    2
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    count: StrictInt = Field(le=MAX_COUNT)
    """Number of scores; a kind without scores is null instead."""
    mean: StrictFloat
    """Mean raw cosine similarity."""
    std: StrictFloat
    """Population standard deviation (ddof=0)."""
    knots: tuple[StrictFloat, ...]
    """Quantiles at the table's quantile_levels."""

    def _check(self, where: str) -> None:
        if self.count < 1:
            raise ValueError(f"{where}.count must be >= 1 (use null for no data), got {self.count}")
        if not (math.isfinite(self.mean) and -1.0 <= self.mean <= 1.0):
            raise ValueError(f"{where}.mean must be finite and in [-1, 1], got {self.mean}")
        if not (math.isfinite(self.std) and self.std >= 0.0):
            raise ValueError(f"{where}.std must be finite and >= 0, got {self.std}")
        check_knots(self.knots, f"{where}.knots")


class PairStats(BaseModel):
    """Everything the calibrators know about one (reference language, output language) pair.

    Examples
    --------
    >>> eq = KindStats(count=2, mean=0.9, std=0.01, knots=(0.89, 0.91))
    >>> PairStats(ref_lang="en", out_lang="de", equivalent=eq, mixture_knots=(0.89, 0.91),
    ...           upper_anchor=0.91).key
    ('en', 'de')
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    ref_lang: str
    """Language of the reference answer."""
    out_lang: str
    """Language of the scored output."""
    equivalent: KindStats | None = None
    """Same item in both languages."""
    mismatch: KindStats | None = None
    """A random other item."""
    hard_negative: KindStats | None = None
    """The most similar other items."""
    mixture_knots: tuple[StrictFloat, ...]
    """Quantiles of all kinds pooled, at the table's quantile_levels."""
    upper_anchor: StrictFloat
    """U: a high quantile of the equivalents (see the module notes); in (0, 1]."""

    @property
    def key(self) -> tuple[str, str]:
        """``(ref_lang, out_lang)``."""
        return (self.ref_lang, self.out_lang)

    def kind(self, name: str) -> KindStats | None:
        """The statistics of one kind (``"equivalent"``, ``"mismatch"``, ``"hard_negative"``)."""
        if name not in KINDS:
            raise ValueError(f"unknown kind {name!r}; expected one of {KINDS}")
        return getattr(self, name)

    @model_validator(mode="after")
    def _check_pair(self) -> PairStats:
        where = f"pair ({self.ref_lang}, {self.out_lang})"
        for code in self.key:
            get_language(code)
        present = {name: stats for name in KINDS if (stats := self.kind(name)) is not None}
        if not present:
            raise ValueError(f"{where}: at least one of {KINDS} must have data")
        for name, stats in present.items():
            stats._check(f"{where}.{name}")
        check_knots(self.mixture_knots, f"{where}.mixture_knots")
        if not (math.isfinite(self.upper_anchor) and 0.0 < self.upper_anchor <= 1.0):
            raise ValueError(f"{where}.upper_anchor must be in (0, 1], got {self.upper_anchor}")
        return self


class Provenance(BaseModel):
    """Where a table comes from, so that a result can be traced back and rebuilt."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    source: str
    """Data the pairs were built from (dataset, split, path)."""
    sizes: dict[str, _Size] = {}
    """Sizes, e.g. items, references, pairs per kind."""
    seed: StrictInt | None = None
    """Seed of the pair sampling."""
    date: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    """When the table was built (ISO 8601, UTC)."""
    lrpo_version: str = Field(default_factory=lambda: importlib.import_module("lrpo").__version__)
    """lrpo version that built the table."""
    command: str = ""
    """The command line that built the table."""
