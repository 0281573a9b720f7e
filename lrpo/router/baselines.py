"""Fixed routers with the learned router's interface: the baselines of the LRPO ablations.

Each reads its settings from ``config.policy`` (see :mod:`lrpo.router.policies`).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from .base import DistributionRouter
from .config import RouterConfig
from .context import EncodedBatch
from .policies import DominantPolicy, FixedPolicy, MonolingualPolicy, UniformPolicy

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

    policy_type = MonolingualPolicy

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

    ``policy.language="input"`` is the input-dominant baseline (the prompt's own language);
    ``"en"`` the English-dominant one (MAPO-style), and any arm works.

    Examples
    --------
    >>> config = RouterConfig(languages=["en", "de", "ja"], num_rollouts=4, num_on_policy=0,
    ...                       policy={"kind": "dominant", "language": "en", "weight": 1.0})
    >>> DominantLanguageRouter(config).route([{"language": "ja"}]).languages.tolist()
    [['en', 'en', 'en', 'en']]
    """

    policy_type = DominantPolicy
    policy: DominantPolicy

    def _fixed(self, encoded: EncodedBatch) -> np.ndarray:
        size, language, weight = len(self.languages), self.policy.language, self.policy.weight
        if language == "input":
            dominant = encoded.home_arms
        else:
            dominant = np.full(len(encoded.home_arms), self._arm_index[language])
        probabilities = np.full((len(dominant), size), (1.0 - weight) / size)
        has_dominant = dominant >= 0
        probabilities[np.flatnonzero(has_dominant), dominant[has_dominant]] += weight
        return probabilities / probabilities.sum(axis=1, keepdims=True)


class FixedDistributionRouter(_FixedRouter):
    """Every routed rollout drawn from one given distribution over the arms.

    Examples
    --------
    >>> config = RouterConfig(languages=["en", "de"], num_rollouts=2, num_on_policy=0,
    ...                       policy={"kind": "fixed", "distribution": {"de": 1.0}})
    >>> FixedDistributionRouter(config).route([{"language": "en"}]).languages.tolist()
    [['de', 'de']]
    """

    policy_type = FixedPolicy
    policy: FixedPolicy

    def __init__(self, config: RouterConfig | None = None) -> None:
        super().__init__(config)
        weights = self._weights()
        values = np.array([weights.get(code, 0.0) for code in self.languages], dtype=float)
        self.distribution = values / values.sum()

    def _weights(self) -> dict[str, float]:
        """Weight per arm, normalised into :attr:`distribution`."""
        return self.policy.distribution

    def _fixed(self, encoded: EncodedBatch) -> np.ndarray:
        return np.broadcast_to(self.distribution, (len(encoded.home_arms), len(self.languages)))


class UniformRouter(FixedDistributionRouter):
    """Every routed rollout in a uniformly drawn language.

    Examples
    --------
    >>> router = UniformRouter(RouterConfig(languages=["en", "de"], num_rollouts=2))
    >>> router.probabilities({"language": "en"}).as_dict()
    {'en': 0.5, 'de': 0.5}
    """

    policy_type = UniformPolicy

    def _weights(self) -> dict[str, float]:
        return dict.fromkeys(self.languages, 1.0)
