"""`Scenario`: the world a simulated router is trained in, as plain serialisable data.

Which prompts arrive, how good an answer in each language truly is per (theme, region), and how
the *raw* reward misreports it: like uncalibrated cross-lingual similarity, a rollout in the
prompt's (the reference's) language scores higher than an equally good translation. The
calibrated reward removes that bias.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lrpo.languages import validate_languages

__all__ = ["Scenario"]

_ATOL = 1e-6


class Scenario(BaseModel):
    """A simulated routing problem, as nested lists (JSON); region ``len(regions)`` is "none".

    Examples
    --------
    >>> scenario = Scenario(
    ...     name="toy", languages=("en", "de"), themes=("Chat",), regions=(),
    ...     prompt_languages=("de",), theme_weights=(1.0,), theme_region_share=(0.0,),
    ...     region_weights=(), prompt_language_weights=((1.0,),),
    ...     quality=(((0.9, 0.6),),), noise_std=0.1, reference_bias=0.2)
    >>> scenario.quality_array.shape
    (1, 1, 2)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # Arms and contexts
    name: str
    """Short name used in reports and file names."""
    languages: tuple[str, ...]
    """Language codes the router may choose."""
    themes: tuple[str, ...]
    """Theme labels of the prompts."""
    regions: tuple[str, ...]
    """Region labels of the prompts (may be empty)."""
    unrouted_themes: tuple[str, ...] = ("Translation",)
    """Themes whose rollouts all stay in the prompt's language."""
    regional_themes: tuple[str, ...] = ("Regional Knowledge",)
    """Themes whose prompts add the router's region rows."""

    # How prompts are drawn
    prompt_languages: tuple[str, ...]
    """Languages prompts are written in (a subset of `languages`)."""
    theme_weights: tuple[float, ...]
    """P(theme), one per theme."""
    theme_region_share: tuple[float, ...]
    """P(prompt has a region | theme), one per theme."""
    region_weights: tuple[float, ...]
    """P(region | it has one), per region."""
    prompt_language_weights: tuple[tuple[float, ...], ...]
    """P(prompt language | region): one row per region, then one for no region; columns follow
    `prompt_languages`.
    """
    theme_embeddings: tuple[tuple[float, ...], ...] | None = None
    """Optional embedding per theme, sent to the router with each prompt."""

    # Rewards
    quality: tuple[tuple[tuple[float, ...], ...], ...]
    """True expected reward per (theme, region or none, language)."""
    noise_std: float = Field(0.1, ge=0.0)
    """Std of one rollout's reward noise."""
    reference_bias: float = 0.0
    """Raw reward bonus of a rollout in the prompt (reference) language."""
    pair_bias: tuple[tuple[float, ...], ...] | None = None
    """Optional raw reward offset per (prompt language, rollout language), rows and columns
    following `languages`; added to `reference_bias` on the diagonal.
    """

    @model_validator(mode="after")
    def _check_fields_together(self) -> Scenario:
        validate_languages(self.languages)
        missing = sorted(set(self.prompt_languages) - set(self.languages))
        if missing:
            raise ValueError(f"prompt_languages {missing} are not in languages {self.languages}")
        themes, regions, languages = len(self.themes), len(self.regions), len(self.languages)
        self._check_shape("quality", self.quality, (themes, regions + 1, languages))
        self._check_shape("theme_weights", self.theme_weights, (themes,))
        self._check_shape("theme_region_share", self.theme_region_share, (themes,))
        self._check_shape("region_weights", self.region_weights, (regions,))
        self._check_shape(
            "prompt_language_weights",
            self.prompt_language_weights,
            (regions + 1, len(self.prompt_languages)),
        )
        if self.pair_bias is not None:
            self._check_shape("pair_bias", self.pair_bias, (languages, languages))
        if self.theme_embeddings is not None and len(self.theme_embeddings) != themes:
            raise ValueError(
                f"theme_embeddings has {len(self.theme_embeddings)} rows, expected one per "
                f"theme ({themes})"
            )
        self._check_distribution("theme_weights", np.asarray(self.theme_weights))
        if regions:
            self._check_distribution("region_weights", np.asarray(self.region_weights))
        elif any(self.theme_region_share):
            raise ValueError("theme_region_share must be all 0 when there are no regions")
        self._check_distribution("prompt_language_weights", self.prompt_language_array)
        share = np.asarray(self.theme_region_share)
        if ((share < 0) | (share > 1)).any():
            raise ValueError(f"theme_region_share must lie in [0, 1], got {share.tolist()}")
        return self

    @staticmethod
    def _check_shape(field: str, value: object, expected: tuple[int, ...]) -> None:
        array = np.asarray(value, dtype=np.float64)
        if array.shape != expected:
            raise ValueError(f"{field} has shape {array.shape}, expected {expected}")
        if not np.isfinite(array).all():
            raise ValueError(f"{field} must be finite")

    @staticmethod
    def _check_distribution(field: str, weights: np.ndarray) -> None:
        if (weights < 0).any() or not np.allclose(weights.sum(axis=-1), 1.0, atol=_ATOL):
            raise ValueError(f"{field} must be non-negative and sum to 1 (per row)")

    # Array views, computed on each access (a model holding arrays could not compare equal).
    @property
    def quality_array(self) -> np.ndarray:
        """True quality ``(T, G + 1, L)``; region ``G`` is "no region"."""
        return np.asarray(self.quality, dtype=np.float64)

    @property
    def bias_array(self) -> np.ndarray:
        """Raw-reward bias ``(L, L)`` by (prompt language, rollout language)."""
        bias = self.reference_bias * np.eye(len(self.languages))
        if self.pair_bias is not None:
            bias += np.asarray(self.pair_bias, dtype=np.float64)
        return bias

    @property
    def prompt_language_array(self) -> np.ndarray:
        """P(prompt language | region) ``(G + 1, P)``."""
        return np.asarray(self.prompt_language_weights, dtype=np.float64)

    @property
    def prompt_language_arms(self) -> np.ndarray:
        """Index in `languages` of each prompt language ``(P,)``."""
        return np.array([self.languages.index(code) for code in self.prompt_languages])

    @property
    def routed_themes(self) -> np.ndarray:
        """Boolean ``(T,)``: whether the router chooses languages for the theme's prompts."""
        return ~np.isin(self.themes, self.unrouted_themes)
