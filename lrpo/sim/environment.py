"""`RoutingEnvironment`: prompt batches, per-rollout rewards and the oracle of a scenario.

Draws are seeded by ``(seed, step)`` only, never by the router: every router of a comparison
sees the same prompts and reward noise, so their differences come from the languages chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .scenario import Scenario

__all__ = ["Condition", "PromptBatch", "RoutingEnvironment"]

#: ``raw``: rewards carry the reference-language bias; ``calibrated``: the bias is removed.
Condition = Literal["raw", "calibrated"]

_PROMPT_STREAM, _NOISE_STREAM = 0, 1


@dataclass(frozen=True)
class PromptBatch:
    """B prompts as index arrays into the scenario; region ``-1`` means none."""

    theme: np.ndarray  # (B,) int
    region: np.ndarray  # (B,) int, -1 = no region
    language: np.ndarray  # (B,) int, index into scenario.languages
    routed: np.ndarray  # (B,) bool: the router chooses its non-K_on languages

    def __len__(self) -> int:
        return len(self.theme)


class RoutingEnvironment:
    """Draws prompts (``batch_size`` B per step) and scores routed rollouts, seeded by ``seed``.

    Examples
    --------
    >>> from lrpo.sim import default_scenario
    >>> env = RoutingEnvironment(default_scenario(), batch_size=4, seed=0)
    >>> batch = env.prompts(step=0)
    >>> env.rewards(batch, np.zeros((4, 8), dtype=int), step=0, condition="raw").shape
    (4, 8)
    """

    def __init__(self, scenario: Scenario, *, batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.scenario = scenario
        self.batch_size = batch_size
        self.seed = seed
        self._quality = scenario.quality_array
        self._bias = scenario.bias_array
        self._prompt_language_arms = scenario.prompt_language_arms
        self._routed_themes = scenario.routed_themes
        self._theme_cdf = np.cumsum(scenario.theme_weights)
        self._region_cdf = np.cumsum(scenario.region_weights)
        self._language_cdf = np.cumsum(scenario.prompt_language_array, axis=1)
        self._names = {  # region -1 ("none") picks the trailing None, as in the quality table
            "theme": np.array(scenario.themes, dtype=object),
            "region": np.array([*scenario.regions, None], dtype=object),
            "language": np.array(scenario.languages, dtype=object),
        }

    def _rng(self, step: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, step, stream])

    def prompts(self, step: int) -> PromptBatch:
        """The B prompts of training step ``step`` (the same for every router)."""
        draws = self._rng(step, _PROMPT_STREAM).random((4, self.batch_size))
        theme = _inverse_cdf(self._theme_cdf, draws[0])
        has_region = draws[1] < np.asarray(self.scenario.theme_region_share)[theme]
        if self.scenario.regions:
            region = np.where(has_region, _inverse_cdf(self._region_cdf, draws[2]), -1)
        else:
            region = np.full(self.batch_size, -1)
        language_row = np.where(has_region, region, len(self.scenario.regions))
        language = self._prompt_language_arms[
            _inverse_cdf(self._language_cdf[language_row], draws[3])
        ]
        return PromptBatch(theme, region, language, self._routed_themes[theme])

    def contexts(self, batch: PromptBatch) -> list[dict[str, Any]]:
        """Routing contexts of a batch, as a trainer would pass them to the router."""
        themes = self._names["theme"][batch.theme]
        regions = self._names["region"][batch.region]
        languages = self._names["language"][batch.language]
        embeddings = self.scenario.theme_embeddings
        return [
            {
                "language": languages[i],
                "theme": themes[i],
                "region": regions[i],
                **({"theme_embedding": embeddings[batch.theme[i]]} if embeddings else {}),
            }
            for i in range(len(batch))
        ]

    def quality(self, batch: PromptBatch, arms: np.ndarray) -> np.ndarray:
        """True expected reward ``(B, K)`` of answering each prompt in language ``arms``."""
        return self._quality[batch.theme[:, None], batch.region[:, None], arms]

    def oracle(self, batch: PromptBatch) -> np.ndarray:
        """Best true expected reward ``(B,)`` any language reaches for each prompt."""
        return self._quality[batch.theme, batch.region].max(axis=1)

    def rewards(
        self, batch: PromptBatch, arms: np.ndarray, *, step: int, condition: Condition
    ) -> np.ndarray:
        """Per-rollout rewards ``(B, K)``: true quality + noise (+ bias when ``raw``)."""
        if condition not in ("raw", "calibrated"):
            raise ValueError(f"condition must be 'raw' or 'calibrated', got {condition!r}")
        noise = self._rng(step, _NOISE_STREAM).standard_normal(arms.shape)
        rewards = self.quality(batch, arms) + self.scenario.noise_std * noise
        if condition == "raw":
            rewards += self._bias[batch.language[:, None], arms]
        return rewards


def _inverse_cdf(cdf: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Categorical draws from one cdf ``(N,)`` or one cdf per draw ``(B, N)``."""
    cdf = np.broadcast_to(cdf, (len(uniforms), cdf.shape[-1]))
    index = (uniforms[:, None] >= cdf / cdf[:, -1:]).sum(axis=1)
    return np.minimum(index, cdf.shape[-1] - 1)
