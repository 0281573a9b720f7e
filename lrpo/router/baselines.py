"""Fixed routers with the learned router's interface: the baselines of the LRPO ablations."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import DistributionRouter
from .config import RouterConfig
from .context import EncodedBatch

__all__ = [
    "DominantLanguageRouter",
    "FixedDistributionRouter",
    "MonolingualRouter",
    "UniformRouter",
]


class _FixedRouter(DistributionRouter):
    """A router whose distribution never changes; it ignores epsilon and temperature."""

    learns = False

    def _distribution(self, encoded: EncodedBatch, step: int) -> tuple[np.ndarray, np.ndarray]:
        probabilities = self._fixed(encoded)
        return probabilities, probabilities

    @abstractmethod
    def _fixed(self, encoded: EncodedBatch) -> np.ndarray:
        """The ``(B, L)`` distribution of each prompt's routed rollouts."""


class MonolingualRouter(_FixedRouter):
    """Plain GRPO: every rollout answers in the prompt's own language.

    Examples
    --------
    >>> router = MonolingualRouter(RouterConfig(languages=["en", "de"], num_rollouts=3))
    >>> router.route([{"language": "de"}]).languages.tolist()
    [['de', 'de', 'de']]
    """

    def _choose(
        self, encoded: EncodedBatch, step: int, keys: np.ndarray
    ) -> tuple[np.ndarray, None]:
        home = encoded.home_arms[encoded.inverse]
        return np.repeat(home[:, None], self.config.num_routed, axis=1), None

    def _fixed(self, encoded: EncodedBatch) -> np.ndarray:
        uniform = np.full(len(self.languages), 1.0 / len(self.languages))
        home = np.eye(len(self.languages))[np.maximum(encoded.home_arms, 0)]
        return np.where(encoded.home_arms[:, None] >= 0, home, uniform)


class DominantLanguageRouter(_FixedRouter):
    """A dominant language with probability ``weight`` (plus its uniform share), else uniform.

    ``language="input"`` is the input-dominant baseline (the prompt's own language);
    ``language="en"`` the English-dominant one (MAPO-style), and any arm works.

    Examples
    --------
    >>> config = RouterConfig(languages=["en", "de", "ja"], num_rollouts=4, num_on_policy=0)
    >>> DominantLanguageRouter(config, language="en", weight=1.0).route(
    ...     [{"language": "ja"}]).languages.tolist()
    [['en', 'en', 'en', 'en']]
    """

    def __init__(
        self, config: RouterConfig | None = None, *, language: str = "input", weight: float = 0.5
    ) -> None:
        super().__init__(config)
        if not isinstance(language, str) or (
            language != "input" and language not in self._arm_index
        ):
            raise ValueError(
                f"dominant language {language!r} is not an arm; use 'input' or one of "
                f"{list(self.languages)}"
            )
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight of the dominant language must be in [0, 1], got {weight}")
        self.language, self.weight = language, float(weight)

    def _fixed(self, encoded: EncodedBatch) -> np.ndarray:
        size = len(self.languages)
        if self.language == "input":
            dominant = encoded.home_arms
        else:
            dominant = np.full(len(encoded.home_arms), self._arm_index[self.language])
        probabilities = np.full((len(dominant), size), (1.0 - self.weight) / size)
        has_dominant = dominant >= 0
        probabilities[np.flatnonzero(has_dominant), dominant[has_dominant]] += self.weight
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _params(self) -> dict[str, Any]:
        return {"language": self.language, "weight": self.weight}


class FixedDistributionRouter(_FixedRouter):
    """Every routed rollout drawn from one given distribution over the arms.

    Examples
    --------
    >>> config = RouterConfig(languages=["en", "de"], num_rollouts=2, num_on_policy=0)
    >>> FixedDistributionRouter(config, distribution={"de": 1.0}).route(
    ...     [{"language": "en"}]).languages.tolist()
    [['de', 'de']]
    """

    def __init__(
        self, config: RouterConfig | None = None, *, distribution: Mapping[str, float]
    ) -> None:
        super().__init__(config)
        unknown = sorted(set(distribution) - set(self.languages))
        if unknown:
            raise ValueError(f"distribution names languages that are not arms: {unknown}")
        values = np.array([distribution.get(code, 0.0) for code in self.languages], dtype=float)
        if not np.all(np.isfinite(values)) or (values < 0).any() or values.sum() <= 0:
            raise ValueError(
                f"distribution must be finite, non-negative and not all zero, got {distribution}"
            )
        self.distribution = values / values.sum()

    def _fixed(self, encoded: EncodedBatch) -> np.ndarray:
        return np.broadcast_to(self.distribution, (len(encoded.home_arms), len(self.languages)))

    def _params(self) -> dict[str, Any]:
        return {"distribution": dict(zip(self.languages, self.distribution.tolist(), strict=True))}


class UniformRouter(FixedDistributionRouter):
    """Every routed rollout in a uniformly drawn language."""

    def __init__(self, config: RouterConfig | None = None) -> None:
        languages = (config or RouterConfig()).languages
        super().__init__(config, distribution=dict.fromkeys(languages, 1.0))
