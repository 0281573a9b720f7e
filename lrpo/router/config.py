"""`RouterConfig`: everything a language router needs, checked once; its policy included.

A policy is one small model per router kind, held by ``RouterConfig.policy``, so its settings
travel with the config; checks that need the arms sit in ``RouterConfig``'s validator.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lrpo.languages import REFERENCE_LANGUAGES, validate_languages

from .schedules import Schedule

__all__ = [
    "MAX_ABS_VALUE",
    "NO_EXPLORATION",
    "REFERENCE_THEMES",
    "THOMPSON_DEFAULTS",
    "DominantPolicy",
    "EmaPolicy",
    "FixedPolicy",
    "MonolingualPolicy",
    "Policy",
    "RouterConfig",
    "ThompsonPolicy",
    "UniformPolicy",
]

#: Largest reward or logit magnitude taken in: sums and squares of many stay finite in float64
#: (a larger reward is counted as unusable, like NaN; a larger prior or saved logit is refused).
MAX_ABS_VALUE = 1e100

#: The six themes of the LRPO reference data; "Translation" is never routed.
REFERENCE_THEMES = (
    "General Knowledge",
    "Regional Knowledge",
    "Reasoning / Logic",
    "Safety / Ethics",
    "Chat / Conversational",
    "Translation",
)

Priors = dict[str, dict[str, float]]

#: Epsilon of a router that explores by its own draws only (ThompsonRouter's default).
NO_EXPLORATION = Schedule(kind="constant", start=0.0, end=0.0)

#: Where policy 'thompson' departs from the reference's defaults (fields not given only):
#: no uniform exploration on top of its posterior draws, and only the rollouts it routed as
#: evidence (benchmarks/README.md, "Calibrators in the closed loop", measures both).
THOMPSON_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"epsilon": NO_EXPLORATION, "feedback": "routed"}
)


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class EmaPolicy(_Policy):
    """The LRPO router: softmax over EMA-learned logits (:class:`lrpo.LanguageRouter`)."""

    kind: Literal["ema"] = "ema"


class ThompsonPolicy(_Policy):
    """Gaussian Thompson sampling over the same cells (:class:`lrpo.ThompsonRouter`)."""

    kind: Literal["thompson"] = "thompson"
    prior_strength: float = Field(1.0, gt=0.0, allow_inf_nan=False)
    """Pseudo-observations behind the prior logit of each cell."""
    noise_scale: float = Field(1.0, gt=0.0, allow_inf_nan=False)
    """Standard deviation of one window's normalised bucket reward."""
    discount: float = Field(1.0, gt=0.0, le=1.0)
    """Factor on past evidence at each update (1 = stationary; < 1 tracks a changing policy)."""


class DominantPolicy(_Policy):
    """One language with probability ``weight`` (plus its uniform share), else uniform."""

    kind: Literal["dominant"] = "dominant"
    language: str = "input"
    """'input' (the prompt's own language: the input-dominant baseline) or an arm, e.g. 'en'
    (English-dominant, MAPO-style).
    """
    weight: float = Field(0.5, ge=0.0, le=1.0)
    """Probability of the dominant language."""


class FixedPolicy(_Policy):
    """Every routed rollout drawn from one given distribution over the arms."""

    kind: Literal["fixed"] = "fixed"
    distribution: dict[str, float]
    """Weight per arm (normalised; unlisted arms get 0), e.g. {'de': 3, 'sw': 1}."""

    @field_validator("distribution")
    @classmethod
    def _weights(cls, distribution: dict[str, float]) -> dict[str, float]:
        values = list(distribution.values())
        if not all(math.isfinite(v) and v >= 0 for v in values) or not sum(values) > 0:
            raise ValueError(
                f"distribution must be finite, non-negative and not all zero, got {distribution}"
            )
        return distribution


class UniformPolicy(_Policy):
    """Every routed rollout in a uniformly drawn language."""

    kind: Literal["uniform"] = "uniform"


class MonolingualPolicy(_Policy):
    """Plain GRPO: every rollout answers in the prompt's own language."""

    kind: Literal["monolingual"] = "monolingual"


#: Any policy, read from a mapping by its ``kind``.
Policy = Annotated[
    EmaPolicy | ThompsonPolicy | DominantPolicy | FixedPolicy | UniformPolicy | MonolingualPolicy,
    Field(discriminator="kind"),
]


class RouterConfig(BaseModel):
    """Configuration of a language router; the defaults reproduce the LRPO reference.

    ``policy`` chooses the router and holds its settings; :func:`lrpo.router.make_router`
    builds the router it names.

    Examples
    --------
    >>> RouterConfig(languages=["en", "de", "ja"], num_rollouts=4, num_on_policy=1).num_routed
    3
    >>> RouterConfig(policy={"kind": "thompson", "prior_strength": 4.0}).policy
    ThompsonPolicy(kind='thompson', prior_strength=4.0, noise_scale=1.0, discount=1.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # Policy
    policy: Policy = EmaPolicy()
    """The routing policy and its settings, by kind: ema (the LRPO router), thompson, dominant,
    fixed, uniform or monolingual.
    """

    # Arms and contexts
    languages: tuple[str, ...] = REFERENCE_LANGUAGES
    """Language codes the router may choose (the arms)."""
    themes: tuple[str, ...] = REFERENCE_THEMES
    """Theme rows created up front; unseen themes cold-start."""
    regions: tuple[str, ...] = ()
    """Region rows created up front."""
    unrouted_themes: tuple[str, ...] = ("Translation",)
    """Themes whose prompts keep every rollout in their language."""
    regional_themes: tuple[str, ...] = ("Regional Knowledge",)
    """Themes whose prompts add their region rows (region_scope='regional_themes')."""
    region_scope: Literal["regional_themes", "all"] = "regional_themes"
    """Add region rows only for prompts with a theme of regional_themes (the reference) or
    whenever a prompt has a region (the paper's wording). With your own theme names, list the
    regional ones in regional_themes or use 'all': other prompts' regions are ignored (counted
    in the ignored_regions metric).
    """

    # Rollout budget
    num_rollouts: int = Field(8, ge=2)
    """K: rollouts per prompt (GRPO group size)."""
    num_on_policy: int = Field(2, ge=0)
    """K_on: leading rollouts kept in the prompt's own language."""

    # Learning
    ema_alpha: float = Field(0.1, gt=0.0, le=1.0)
    """EMA step towards bucket rewards."""
    update_period: int = Field(5, ge=1)
    """M: recorded steps between two updates."""
    group_norm: Literal["zscore", "center", "none"] = "zscore"
    """Normalise bucket means across languages within (theme, region)."""
    feedback: Literal["all", "routed"] = "all"
    """Rollouts whose rewards feed the statistics: all (reference), or only those the router
    chose, so that the K_on rollouts, always in the prompt's language and judged against a
    reference in that language, do not leak the mix of prompt languages and the same-language
    comparison into the rows. Unset, all, except for policy 'thompson': routed, since its
    posterior counts that evidence as if the router had chosen it (:data:`THOMPSON_DEFAULTS`).
    """

    # Exploration
    temperature: Schedule = Schedule(kind="exponential", start=1.0, end=0.3, decay=0.999)
    """Softmax temperature tau over training steps."""
    epsilon: Schedule = Schedule(kind="exponential", start=0.2, end=0.0, decay=0.995)
    """Probability of a uniform language instead of the policy's draw. Unset, the reference's
    schedule, except for policy 'thompson': 0 (:data:`NO_EXPLORATION`), since its posterior
    draws explore already and a uniform share only caps what it can reach.
    """

    # Priors and cold start
    prior_kind: Literal["weights", "logits"] = "weights"
    """Priors as non-negative weights (logit = log(max(w, 1e-6)), unlisted languages 1e-6, as the
    reference) or as logits (unlisted languages 0).
    """
    theme_priors: Priors = {}
    """Initial row per theme: {theme: {lang: value}}."""
    region_priors: Priors = {}
    """Initial row per region: {region: {lang: v}}."""
    cold_start: Literal["prior", "mean"] = "prior"
    """Row for a theme or region first seen in training: its prior (uniform if none is
    configured) or the mean of the known rows.
    """

    # Themes as embeddings
    theme_input: Literal["labels", "embeddings"] = "labels"
    """Read a prompt's themes from its labels, or from its theme embedding as soft weights over
    `theme_anchors` (for thousands of fine-grained themes).
    """
    theme_anchors: dict[str, tuple[float, ...]] = {}
    """Anchor embedding per theme row, used when theme_input='embeddings'."""
    anchor_temperature: float = Field(0.1, gt=0.0)
    """Softmax temperature over cosine similarity to the anchors."""

    # Reproducibility
    seed: int = 0
    """Routing seed; draws depend on (seed, step, prompt key)."""

    @model_validator(mode="before")
    @classmethod
    def _thompson_defaults(cls, data: Any) -> Any:
        """Thompson sampling's own defaults (:data:`THOMPSON_DEFAULTS`) for fields not given."""
        if not isinstance(data, dict):
            return data
        policy = data.get("policy")
        kind = policy.get("kind") if isinstance(policy, dict) else getattr(policy, "kind", None)
        return {**THOMPSON_DEFAULTS, **data} if kind == "thompson" else data

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        return validate_languages(languages)

    @field_validator("themes", "regions", "unrouted_themes", "regional_themes")
    @classmethod
    def _unique_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"names must be unique, duplicated: {duplicates}")
        return names

    @model_validator(mode="after")
    def _check_fields_together(self) -> RouterConfig:
        if self.num_on_policy > self.num_rollouts:
            raise ValueError(
                f"num_on_policy (K_on={self.num_on_policy}) must be <= num_rollouts "
                f"(K={self.num_rollouts})"
            )
        if self.temperature.minimum <= 0.0:
            raise ValueError(
                f"temperature must stay > 0, but its schedule reaches {self.temperature.minimum}; "
                "set temperature.end (the floor) to a positive value such as 0.3"
            )
        if not 0.0 <= self.epsilon.minimum <= self.epsilon.maximum <= 1.0:
            raise ValueError(
                f"epsilon must stay within [0, 1], got start={self.epsilon.start}, "
                f"end={self.epsilon.end}"
            )
        for field in ("theme_priors", "region_priors"):
            self._check_priors(field, getattr(self, field))
        self._check_policy_languages()
        if self.theme_input == "embeddings":
            self._check_anchors()
        self._warn_if_regions_never_apply()
        return self

    def _warn_if_regions_never_apply(self) -> None:
        """A warning, not an error: themes first seen in training may still be regional."""
        regions = sorted(set(self.regions) | set(self.region_priors))
        if self.region_scope == "all" or not regions:
            return
        themes = set(self.themes) | set(self.theme_priors) | set(self.theme_anchors)
        if themes.isdisjoint(self.regional_themes):
            warnings.warn(
                f"regions {regions} are configured, but with region_scope='regional_themes' a "
                "prompt adds its region rows only if one of its themes is in regional_themes="
                f"{list(self.regional_themes)}, and no configured theme is: list your regional "
                "themes in regional_themes, or set region_scope='all' to use a prompt's region "
                "whenever it has one",
                UserWarning,
                stacklevel=2,
            )

    def _check_arms(self, where: str, codes: Iterable[str]) -> None:
        unknown = sorted(set(codes) - set(self.languages))
        if unknown:
            raise ValueError(
                f"{where} names languages that are not arms: {unknown}; "
                f"arms are {list(self.languages)}"
            )

    def _check_policy_languages(self) -> None:
        policy, arms = self.policy, list(self.languages)
        if isinstance(policy, DominantPolicy) and policy.language not in ("input", *arms):
            raise ValueError(
                f"policy.language {policy.language!r} is not an arm; use 'input' (the prompt's "
                f"language) or one of {arms}"
            )
        if isinstance(policy, FixedPolicy):
            self._check_arms("policy.distribution", policy.distribution)

    def _check_priors(self, field: str, priors: Priors) -> None:
        for row, values in priors.items():
            self._check_arms(f"{field}[{row!r}]", values)
            # Weights become logits through a log, which keeps any finite weight small.
            weights = self.prior_kind == "weights"
            low, high = (0.0, math.inf) if weights else (-MAX_ABS_VALUE, MAX_ABS_VALUE)
            for lang, value in values.items():
                if not (low <= value <= high and math.isfinite(value)):
                    raise ValueError(
                        f"{field}[{row!r}][{lang!r}] = {value}: prior_kind={self.prior_kind!r} "
                        "needs finite values " + (">= 0" if weights else f"within ±{high:g}")
                    )

    def _check_anchors(self) -> None:
        if not self.theme_anchors:
            raise ValueError("theme_input='embeddings' needs theme_anchors: {theme: embedding}")
        dims = {len(vector) for vector in self.theme_anchors.values()}
        if len(dims) != 1 or 0 in dims:
            raise ValueError(f"theme_anchors must share one non-zero dimension, got {sorted(dims)}")
        for name, vector in self.theme_anchors.items():
            if not all(math.isfinite(v) for v in vector) or not any(vector):
                raise ValueError(f"theme_anchors[{name!r}] must be finite and non-zero")

    @property
    def num_routed(self) -> int:
        """Rollouts per prompt whose language the router chooses: K - K_on."""
        return self.num_rollouts - self.num_on_policy
