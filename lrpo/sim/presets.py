"""Ready-made scenarios: an LRPO-like world and a world of 1,000 fine-grained themes.

The numbers are illustrative: the paper's qualitative claims (regional knowledge is best in the
region's language, reasoning in high-resource ones) at reward gaps below the raw same-language
bias, where the paper says an uncalibrated router degenerates towards monolingual routing.
"""

from __future__ import annotations

import numpy as np

from lrpo.languages import REFERENCE_LANGUAGES
from lrpo.router import REFERENCE_THEMES

from .scenario import Scenario

__all__ = ["REGION_LANGUAGES", "RESOURCE_LEVEL", "default_scenario", "fine_grained_scenario"]

#: The local language of each region (None: not among the arms), as a table of pairs.
REGION_LANGUAGES: dict[str, str | None] = {
    "Arab World": "ar", "Brazil": "pt", "China": "zh", "France": "fr", "Germany": "de",
    "Indonesia": "id", "Italy": "it", "Japan": "ja", "Korea": "ko", "Latin America": "es",
    "Netherlands": "nl", "Poland": "pl", "Portugal": "pt", "Russia": "ru", "Spain": "es",
    "Vietnam": "vi", "United States": "en", "United Kingdom": "en", "India": None,
    "Turkey": None, "Greece": None, "Iran": None, "Thailand": None, "Sub-Saharan Africa": None,
}  # fmt: skip

#: How well-resourced each arm is (1 = English); drives reasoning and general knowledge.
RESOURCE_LEVEL: dict[str, float] = {
    "en": 1.0,
    "zh": 0.85,
    "es": 0.8,
    "fr": 0.8,
    "de": 0.8,
    "ja": 0.7,
    "ru": 0.7,
    "pt": 0.7,
    "it": 0.65,
    "ko": 0.6,
    "nl": 0.6,
    "pl": 0.55,
    "ar": 0.5,
    "vi": 0.5,
    "id": 0.5,
}

# Per theme: P(theme), P(has a region | theme), and the quality gained per unit of resource.
# Most reference prompts (HelpSteer3) carry no region; regional ones (CARE) do.
_THEMES: dict[str, tuple[float, float, float]] = {
    "General Knowledge": (0.25, 0.2, 0.15),
    "Regional Knowledge": (0.25, 1.0, 0.05),
    "Reasoning / Logic": (0.20, 0.2, 0.20),
    "Safety / Ethics": (0.10, 0.2, 0.10),
    "Chat / Conversational": (0.15, 0.2, 0.06),
    "Translation": (0.05, 0.3, 0.0),
}
_BASE_QUALITY = 0.5
_LOCAL_BONUS = 0.15  # regional knowledge answered in the region's own language
_JITTER_STD = 0.01  # per (theme, language), so no two languages tie exactly
_LOCAL_PROMPT_SHARE = 0.75  # prompts about a region written in its language, if one can be
_NOISE_STD = 0.1
_REFERENCE_BIAS = 0.2  # > every quality gap but the local bonus, as in DESIGN.md's numbers


def default_scenario(seed: int = 0) -> Scenario:
    """LRPO-like: 6 reference themes x 24 regions x 15 languages, prompts in 14 (no English).

    True quality is ``0.5 + sensitivity(theme) * resource(language) + jitter``, plus 0.15 for
    regional knowledge in the region's language. Three quarters of the prompts about a region
    are in its language (if a prompt language), the rest spread evenly. Raw rewards add 0.2 in
    the prompt's language; per-rollout noise has std 0.1.

    Examples
    --------
    >>> scenario = default_scenario()
    >>> scenario.quality_array.shape, "en" in scenario.prompt_languages
    ((6, 25, 15), False)
    """
    rng = np.random.default_rng(seed)
    languages = REFERENCE_LANGUAGES
    regions = tuple(REGION_LANGUAGES)
    prompt_languages = tuple(code for code in languages if code != "en")
    weights, region_share, sensitivity = (
        np.array(column)
        for column in zip(*(_THEMES[theme] for theme in REFERENCE_THEMES), strict=True)
    )

    resource = np.array([RESOURCE_LEVEL[code] for code in languages])
    per_theme = _BASE_QUALITY + sensitivity[:, None] * resource
    per_theme = per_theme + rng.normal(0.0, _JITTER_STD, per_theme.shape)
    quality = np.repeat(per_theme[:, None, :], len(regions) + 1, axis=1)
    local = np.array([[code == REGION_LANGUAGES[r] for code in languages] for r in regions])
    quality[REFERENCE_THEMES.index("Regional Knowledge"), : len(regions)] += _LOCAL_BONUS * local

    uniform = np.full(len(prompt_languages), 1.0 / len(prompt_languages))
    by_region = [
        (1 - _LOCAL_PROMPT_SHARE) * uniform
        + _LOCAL_PROMPT_SHARE * np.equal(prompt_languages, REGION_LANGUAGES[region])
        if REGION_LANGUAGES[region] in prompt_languages
        else uniform
        for region in regions
    ]
    return Scenario(
        name="default",
        languages=languages,
        themes=REFERENCE_THEMES,
        regions=regions,
        prompt_languages=prompt_languages,
        theme_weights=tuple(weights),
        theme_region_share=tuple(region_share),
        region_weights=tuple(np.full(len(regions), 1.0 / len(regions))),
        prompt_language_weights=np.stack([*by_region, uniform]).tolist(),
        quality=quality.tolist(),
        noise_std=_NOISE_STD,
        reference_bias=_REFERENCE_BIAS,
    )


def fine_grained_scenario(
    seed: int = 0, *, num_themes: int = 1000, num_clusters: int = 12, dimension: int = 32
) -> Scenario:
    """1,000 fine-grained themes with embeddings; quality varies smoothly with the embedding.

    Embeddings are unit vectors around ``num_clusters`` random centres; true quality is
    ``0.5 + 0.1 * resource(language) + 0.1 * embedding @ W`` for a random ``W``, so nearby
    themes prefer the same languages (pooling by embedding pays). No regions; prompts are
    spread evenly over the 14 non-English languages.

    Examples
    --------
    >>> scenario = fine_grained_scenario(num_themes=50)
    >>> len(scenario.themes), len(scenario.theme_embeddings[0])
    (50, 32)
    """
    rng = np.random.default_rng(seed)
    languages = REFERENCE_LANGUAGES
    prompt_languages = tuple(code for code in languages if code != "en")
    centres = rng.normal(size=(num_clusters, dimension))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    members = rng.integers(num_clusters, size=num_themes)
    embeddings = centres[members] + 0.35 * rng.normal(size=(num_themes, dimension)) / np.sqrt(
        dimension
    )
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    resource = np.array([RESOURCE_LEVEL[code] for code in languages])
    preference = embeddings @ rng.normal(size=(dimension, len(languages)))
    quality = _BASE_QUALITY + 0.1 * resource + 0.1 * preference
    uniform = np.full(len(prompt_languages), 1.0 / len(prompt_languages))
    return Scenario(
        name="fine-grained",
        languages=languages,
        themes=tuple(f"topic-{i:04d}" for i in range(num_themes)),
        regions=(),
        unrouted_themes=(),
        regional_themes=(),
        prompt_languages=prompt_languages,
        theme_weights=tuple(np.full(num_themes, 1.0 / num_themes)),
        theme_region_share=(0.0,) * num_themes,
        region_weights=(),
        prompt_language_weights=(tuple(uniform),),
        theme_embeddings=embeddings.tolist(),
        quality=quality[:, None, :].tolist(),
        noise_std=_NOISE_STD,
        reference_bias=_REFERENCE_BIAS,
    )
