"""One router class per policy kind, and `make_router`, which picks it from a config."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from scipy.special import ndtri

from .base import BaseRouter
from .config import (
    DominantPolicy,
    FixedPolicy,
    MonolingualPolicy,
    RouterConfig,
    ThompsonPolicy,
    UniformPolicy,
)
from .state import RowTable
from .weights import EncodedBatch

__all__ = [
    "ROUTERS",
    "DistributionRouter",
    "DominantLanguageRouter",
    "FixedDistributionRouter",
    "LanguageRouter",
    "MonolingualRouter",
    "ThompsonRouter",
    "UniformRouter",
    "make_router",
]

_MONTE_CARLO_DRAWS = 4096


class DistributionRouter(BaseRouter):
    """A router that draws each routed rollout from an explicit distribution per prompt."""

    def _choose(
        self, encoded: EncodedBatch, step: int, keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        _, effective = self._distribution(encoded, step)
        cdf = np.cumsum(effective, axis=1)[encoded.inverse]
        cdf /= cdf[:, -1:]
        draws = self._uniforms(step, keys, stream=0)
        arms = (draws[:, :, None] >= cdf[:, None, :]).sum(axis=-1)
        return np.minimum(arms, len(self.languages) - 1), effective[encoded.inverse]


class LanguageRouter(DistributionRouter):
    """Learned language router of LRPO: theme x language and region x language logits.

    A routed rollout answers in a uniform language with probability eps, else in a draw from
    ``softmax(z / tau)``, ``z`` the sum of the prompt's theme rows and, for regional prompts,
    its region rows. Every M recorded steps each row moves by EMA (step alpha) towards its
    buckets' means, normalised across languages. Unlike the reference, each row is updated
    once per window (bucket order cannot matter) and eps follows its own schedule.

    Examples
    --------
    >>> router = LanguageRouter(RouterConfig(languages=["en", "de", "ja"], num_rollouts=4))
    >>> plan = router.route([{"language": "ja", "theme": "Reasoning / Logic"}])
    >>> plan.languages.shape, plan.languages[0, 0], router.record(plan, [[1.0, 0.5, 0.2, 0.9]])
    ((1, 4), 'ja', False)
    """

    def _distribution(self, encoded: EncodedBatch, step: int) -> tuple[np.ndarray, np.ndarray]:
        logits = self._combine(encoded, *self._table_rows(encoded, "logits"))
        tau = max(self.config.temperature.value(step), 1e-6)
        scaled = logits / tau
        softmax = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        softmax /= softmax.sum(axis=1, keepdims=True)
        eps = self.config.epsilon.value(step)
        return softmax, (1.0 - eps) * softmax + eps / len(self.languages)

    def _learn(self, table: RowTable, reward: np.ndarray, weight: np.ndarray) -> None:
        logits, seen = table.data["logits"], weight > 0
        logits[seen] += self.config.ema_alpha * (reward[seen] - logits[seen])


class ThompsonRouter(BaseRouter):
    """Gaussian Thompson sampling over theme x language and region x language cells.

    Each cell holds a posterior mean of its normalised reward (started at the prior logit) and
    the number of windows that observed it. A routed rollout answers in the argmax over
    languages of ``sum of its rows' means + sqrt(sum of their variances) * N(0, 1)``, cell
    variance ``noise_scale**2 / (prior_strength + count)``: exploration shrinks where evidence
    accumulates; temperature is not used. Its own defaults depart from the reference's where
    the closed-loop benchmark showed it (:data:`~lrpo.router.config.THOMPSON_DEFAULTS`): no
    uniform share on top of the draws (an explicit ``epsilon`` still mixes one in), and only
    the routed rollouts as evidence. Settings: ``config.policy`` (:class:`ThompsonPolicy`).

    Examples
    --------
    >>> router = ThompsonRouter(RouterConfig(languages=["en", "de"], policy={"kind": "thompson"}))
    >>> router.route([{"language": "de", "theme": "General Knowledge"}]).languages.shape
    (1, 8)
    """

    policy_type = ThompsonPolicy
    row_fields = ("mean", "count")
    nonnegative_fields = ("count",)
    policy: ThompsonPolicy

    def _row_values(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        return {"mean": logits, "count": np.zeros_like(logits)}

    def _posterior(self, encoded: EncodedBatch) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation ``(U, L)`` of each context's summed cells."""
        policy = self.policy
        counts = self._table_rows(encoded, "count")
        variances = [policy.noise_scale**2 / (policy.prior_strength + c) for c in counts]
        mean = self._combine(encoded, *self._table_rows(encoded, "mean"))
        return mean, np.sqrt(self._combine(encoded, *variances, squared=True))

    def _choose(
        self, encoded: EncodedBatch, step: int, keys: np.ndarray
    ) -> tuple[np.ndarray, None]:
        size = len(self.languages)
        mean, std = self._posterior(encoded)
        mean, std = mean[encoded.inverse], std[encoded.inverse]
        normals = ndtri(self._uniforms(step, keys, stream=1, depth=size))
        arms = np.argmax(mean[:, None, :] + std[:, None, :] * normals, axis=-1)
        explore = self._uniforms(step, keys, stream=2) < self.config.epsilon.value(step)
        uniform = np.minimum((self._uniforms(step, keys, stream=3) * size).astype(int), size - 1)
        return np.where(explore, uniform, arms), None

    def _distribution(self, encoded: EncodedBatch, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Probability that each language is the argmax, by Monte Carlo (seeded, fixed)."""
        size = len(self.languages)
        mean, std = self._posterior(encoded)
        generator = np.random.default_rng(self.config.seed)
        normals = generator.standard_normal((_MONTE_CARLO_DRAWS, 1, size))
        winners = np.argmax(mean[None] + std[None] * normals, axis=-1)  # (draws, U)
        thompson = np.stack([np.bincount(w, minlength=size) for w in winners.T]) / len(winners)
        eps = self.config.epsilon.value(step)
        return thompson, (1.0 - eps) * thompson + eps / size

    def _learn(self, table: RowTable, reward: np.ndarray, weight: np.ndarray) -> None:
        seen = weight > 0
        count = table.data["count"] * self.policy.discount
        mean = table.data["mean"]
        evidence = self.policy.prior_strength + count
        mean[seen] = (evidence[seen] * mean[seen] + reward[seen]) / (evidence[seen] + 1.0)
        count[seen] += 1.0
        table.data["count"] = count


class _FixedRouter(DistributionRouter):
    """A router whose distribution never changes; it ignores epsilon and temperature."""

    learns = False

    def _distribution(self, encoded: EncodedBatch, step: int) -> tuple[np.ndarray, np.ndarray]:
        probabilities = self._fixed(encoded)
        return probabilities, probabilities

    @abstractmethod
    def _fixed(self, encoded: EncodedBatch) -> np.ndarray:
        """The ``(U, L)`` distribution of each context's routed rollouts."""


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
    """A dominant language with probability ``weight`` (plus its uniform share), else uniform:
    ``policy.language`` "input" (the prompt's own language), "en" (MAPO-style) or any arm.

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
    """Every routed rollout drawn from ``policy.distribution`` over the arms.

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


#: The router class of each policy kind: one name per router everywhere.
ROUTERS: dict[str, type[BaseRouter]] = {
    "ema": LanguageRouter,
    "thompson": ThompsonRouter,
    "dominant": DominantLanguageRouter,
    "fixed": FixedDistributionRouter,
    "uniform": UniformRouter,
    "monolingual": MonolingualRouter,
}


def make_router(config: RouterConfig | None = None) -> BaseRouter:
    """A new router (at step 0) of ``config.policy.kind``, configured by ``config``.

    Parameters
    ----------
    config : RouterConfig, optional
        Default: ``RouterConfig()``, the LRPO reference router.

    Examples
    --------
    >>> type(make_router(RouterConfig(policy={"kind": "thompson", "discount": 0.9}))).__name__
    'ThompsonRouter'
    """
    config = RouterConfig() if config is None else config
    return ROUTERS[config.policy.kind](config)
