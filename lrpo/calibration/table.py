"""`CalibrationTable`: per language pair statistics of raw embedding similarities, as JSON.

Fitted offline from scored pairs (:meth:`CalibrationTable.from_scores`) and read by the
calibrators. Every number is checked when a table is built or loaded; each error names the
pair and the field. Conventions:

* Kinds: ``equivalent`` (the same item in both languages: a correct answer), ``mismatch``
  (a random other item), ``hard_negative`` (the most similar other items). A kind without
  data (e.g. same-language equivalents without paraphrases) is ``null``, never a fake
  zero-count entry.
* Knots are ``np.quantile(scores, quantile_levels)`` (linear interpolation); ``std`` has
  ``ddof=0`` (one score: std 0); ``mixture_knots`` pool every kind, as the reference's
  ``mix_quantiles``.
* ``upper_anchor`` U (the reference's ``ub_anchor``) is the ``upper_anchor_level`` quantile
  of the equivalents (of all scores without equivalents): not the maximum, so that one
  near-duplicate pair (cosine 1.0) does not set it.
* In an unordered table one entry, stored in the order of ``languages``, pools and serves
  (a, b) and (b, a).
* Scores within ``SCORE_TOLERANCE`` of [-1, 1] (float32 rounding) are clipped, others rejected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    model_validator,
)

from lrpo.languages import validate_languages

from .entries import (
    DEFAULT_QUANTILE_LEVELS,
    FORMAT_VERSION,
    KINDS,
    SCORE_TOLERANCE,
    KindStats,
    PairStats,
    Provenance,
)

__all__ = ["CalibrationTable"]


class CalibrationTable(BaseModel):
    """Offline statistics of raw similarities per language pair, for one embedder.

    Examples
    --------
    >>> table = CalibrationTable.from_scores(
    ...     {("en", "de"): {"equivalent": [0.5, 1.0], "mismatch": [0.1, 0.3]}},
    ...     embedder="e5-small", languages=["en", "de"], ordered=True,
    ...     provenance=Provenance(source="doctest"), quantile_levels=(0.0, 0.5, 1.0))
    >>> table.pair("en", "de").equivalent.knots
    (0.5, 0.75, 1.0)
    >>> table.pair("de", "en") is None  # ordered: (de, en) is another pair
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    format_version: StrictInt = FORMAT_VERSION
    """Version of the JSON layout."""
    embedder: str
    """Fingerprint of the embedder that produced the scores."""
    languages: tuple[str, ...]
    """Language codes the table knows."""
    ordered: StrictBool
    """Whether (a, b) and (b, a) are distinct entries (else one serves both)."""
    quantile_levels: tuple[StrictFloat, ...] = DEFAULT_QUANTILE_LEVELS
    """Increasing levels in [0, 1], starting at 0 and ending at 1."""
    upper_anchor_level: StrictFloat = 0.95
    """Quantile of the equivalents that sets each pair's upper_anchor."""
    pairs: tuple[PairStats, ...]
    """One entry per (ordered or not) pair."""
    provenance: Provenance
    """Where the table comes from."""

    _index: dict[tuple[str, str], PairStats] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_table(self) -> CalibrationTable:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(
                f"format_version {self.format_version} is not supported (expected "
                f"{FORMAT_VERSION}); rebuild the table with this lrpo version"
            )
        if not self.embedder.strip():
            raise ValueError("embedder must be a non-empty fingerprint string")
        validate_languages(self.languages)
        levels = np.asarray(self.quantile_levels, dtype=float)
        rising = np.all(np.diff(levels) > 0)  # NaN compares False; inf cannot lie within 0..1
        if levels.size < 2 or levels[0] != 0.0 or levels[-1] != 1.0 or not rising:
            raise ValueError(
                "quantile_levels must increase strictly from 0 to 1 (both included), got "
                f"{list(self.quantile_levels)[:5]}... ({levels.size} levels)"
            )
        if not 0.0 < self.upper_anchor_level <= 1.0:
            raise ValueError(f"upper_anchor_level must be in (0, 1], got {self.upper_anchor_level}")
        known = set(self.languages)
        seen: set[tuple[str, str]] = set()
        for entry in self.pairs:
            where = f"pair ({entry.ref_lang}, {entry.out_lang})"
            unknown = [code for code in entry.key if code not in known]
            if unknown:
                raise ValueError(
                    f"{where}: languages {unknown} are not in the table's languages "
                    f"{list(self.languages)}"
                )
            named = [(f"{k}.knots", s.knots) for k in KINDS if (s := entry.kind(k))]
            for name, knots in [*named, ("mixture_knots", entry.mixture_knots)]:
                if len(knots) != levels.size:
                    raise ValueError(
                        f"{where}.{name}: {len(knots)} knots for {levels.size} quantile_levels"
                    )
            key = self._key(*entry.key)
            if key in seen:
                raise ValueError(f"{where}: duplicate entry (ordered={self.ordered})")
            seen.add(key)
        return self

    def __eq__(self, other: object) -> bool:
        # Fields only: the lookup index built by pair() is a cache.
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def _key(self, ref_lang: str, out_lang: str) -> tuple[str, str]:
        if self.ordered:
            return (ref_lang, out_lang)
        return (ref_lang, out_lang) if ref_lang <= out_lang else (out_lang, ref_lang)

    def pair(self, ref_lang: str, out_lang: str) -> PairStats | None:
        """The entry for (ref_lang, out_lang), or ``None``; an unordered table serves both orders
        with one entry, whose ``key`` keeps the stored order."""
        if not self._index and self.pairs:
            for entry in self.pairs:
                self._index[entry.key] = entry
                if not self.ordered:
                    self._index[entry.key[::-1]] = entry
        return self._index.get((ref_lang, out_lang))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the table as JSON (strict: no NaN) and return the path."""
        path = Path(path)
        text = json.dumps(self.model_dump(mode="json"), indent=1, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path, *, embedder: str | None = None) -> CalibrationTable:
        """Read and validate a table; refuse one built with another embedder.

        Parameters
        ----------
        path : str or Path
            A file written by :meth:`save`.
        embedder : str, optional
            Fingerprint of the embedder that will score the rollouts; when given, it must
            equal the table's.

        Raises
        ------
        ValueError
            For a truncated or corrupt file, a wrong ``format_version``, any invalid number or
            language (the message names the pair and field), or an embedder mismatch.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(
                f"calibration table {path} is not valid JSON (truncated or corrupt?): {error}"
            ) from None
        except (RecursionError, ValueError) as error:  # nested too deep, an int too long
            raise ValueError(
                f"calibration table {path} cannot be read as a table: {error}"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"calibration table {path} must hold a JSON object")
        version = data.get("format_version")
        if type(version) is not int or version != FORMAT_VERSION:  # true == 1 in Python
            raise ValueError(
                f"calibration table {path} has format_version {version!r}; this lrpo reads "
                f"version {FORMAT_VERSION}: rebuild the table"
            )
        try:
            table = cls.model_validate(data)
        except ValidationError as error:
            raise ValueError(f"invalid calibration table {path}:\n{error}") from None
        if embedder is not None and embedder != table.embedder:
            raise ValueError(
                f"calibration table {path} was built with embedder {table.embedder!r}, but the "
                f"scores come from {embedder!r}: build a table with that embedder"
            )
        return table

    # ---------------------------------------------------------------------- builder
    @classmethod
    def from_scores(
        cls,
        scores: Mapping[tuple[str, str], Mapping[str, Any]],
        *,
        embedder: str,
        languages: Sequence[str],
        ordered: bool,
        provenance: Provenance,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        upper_anchor_level: float = 0.95,
    ) -> CalibrationTable:
        """Build a table from raw cosine scores per pair and kind.

        Parameters
        ----------
        scores : mapping
            ``{(ref_lang, out_lang): {kind: 1-D array of raw cosines}}``, kinds among
            :data:`KINDS`; a missing or empty kind becomes ``null``.
        embedder, languages, ordered, provenance, quantile_levels, upper_anchor_level
            The table's fields (see the class); an unordered table pools both orders.

        Raises
        ------
        ValueError
            For an unknown kind, a non 1-D or non-finite array, a score outside [-1, 1]
            (beyond :data:`SCORE_TOLERANCE`), or a pair with no scores of any kind.
        """
        languages = validate_languages(languages)
        order = {code: i for i, code in enumerate(languages)}
        pooled: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
        for (ref_lang, out_lang), kinds in scores.items():
            where = f"pair ({ref_lang}, {out_lang})"
            for code in (ref_lang, out_lang):
                if code not in order:
                    raise ValueError(f"{where}: language {code!r} not in languages {languages}")
            key = (ref_lang, out_lang)
            if not ordered and order[ref_lang] > order[out_lang]:
                key = (out_lang, ref_lang)
            slot = pooled.setdefault(key, {kind: [] for kind in KINDS})
            for kind, values in kinds.items():
                if kind not in KINDS:
                    raise ValueError(f"{where}: unknown kind {kind!r}; expected one of {KINDS}")
                slot[kind].append(_checked_scores(values, f"{where}.{kind}"))
        levels = np.asarray(quantile_levels, dtype=float)
        entries = []
        for (ref_lang, out_lang), kinds in pooled.items():
            arrays = {kind: np.concatenate([np.empty(0), *parts]) for kind, parts in kinds.items()}
            if all(a.size == 0 for a in arrays.values()):
                raise ValueError(f"pair ({ref_lang}, {out_lang}): no scores of any kind")
            stats = {kind: _kind_stats(a, levels) for kind, a in arrays.items() if a.size}
            everything = np.concatenate([a for a in arrays.values() if a.size])
            anchored = arrays["equivalent"] if arrays["equivalent"].size else everything
            entries.append(
                PairStats(
                    ref_lang=ref_lang,
                    out_lang=out_lang,
                    **stats,
                    mixture_knots=_knots(everything, levels),
                    upper_anchor=float(np.quantile(anchored, upper_anchor_level)),
                )
            )
        return cls(
            embedder=embedder,
            languages=languages,
            ordered=ordered,
            quantile_levels=tuple(float(x) for x in levels),
            upper_anchor_level=upper_anchor_level,
            pairs=tuple(entries),
            provenance=provenance,
        )


def _checked_scores(values: Any, where: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{where}: scores must be a 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        n_bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{where}: scores must be finite, got {n_bad} NaN/inf values")
    if array.size and np.abs(array).max() > 1.0 + SCORE_TOLERANCE:
        bad = array[np.abs(array) > 1.0 + SCORE_TOLERANCE][0]
        raise ValueError(f"{where}: cosine scores must lie in [-1, 1], got {bad}")
    return np.clip(array, -1.0, 1.0)


def _knots(values: np.ndarray, levels: np.ndarray) -> tuple[float, ...]:
    # np.maximum.accumulate guards against 1-ulp dips of linear interpolation between ties.
    return tuple(float(x) for x in np.maximum.accumulate(np.quantile(values, levels)))


def _kind_stats(values: np.ndarray, levels: np.ndarray) -> KindStats:
    return KindStats(
        count=int(values.size),
        mean=float(np.clip(values.mean(), -1.0, 1.0)),
        std=float(values.std()),
        knots=_knots(values, levels),
    )
