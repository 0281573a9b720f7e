"""`ThompsonRouter`: the same theme/region parameterisation, routed by posterior sampling."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .base import BaseRouter
from .context import EncodedBatch
from .feedback import WindowStats
from .policies import ThompsonPolicy

__all__ = ["ThompsonRouter"]

_MONTE_CARLO_DRAWS = 4096


class ThompsonRouter(BaseRouter):
    """Gaussian Thompson sampling over theme x language and region x language cells.

    Each cell holds a posterior over its normalised reward: mean (started at the prior logit)
    and the number of windows that observed it. Each routed rollout draws one value per
    language, ``sum of its rows' means + sqrt(sum of their variances) * N(0, 1)``, with cell
    variance ``noise_scale**2 / (prior_strength + count)``, and answers in the argmax. Unlike
    the EMA router, exploration shrinks where evidence accumulates and stays where it does not.
    Epsilon still mixes in uniform languages (set it to 0 for pure Thompson); the temperature
    schedule is not used. Its settings are ``config.policy`` (:class:`ThompsonPolicy`:
    ``prior_strength``, ``noise_scale``, ``discount``).

    Examples
    --------
    >>> from lrpo import RouterConfig
    >>> config = RouterConfig(languages=["en", "de", "ja"], num_rollouts=4,
    ...                       policy={"kind": "thompson", "prior_strength": 2.0})
    >>> router = ThompsonRouter(config)
    >>> router.route([{"language": "de", "theme": "General Knowledge"}]).languages.shape
    (1, 4)
    """

    policy_type = ThompsonPolicy
    row_fields = ("mean", "count")
    nonnegative_fields = ("count",)
    policy: ThompsonPolicy

    def _row_values(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        return {"mean": logits, "count": np.zeros_like(logits)}

    def _posterior(self, encoded: EncodedBatch) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation ``(B, L)`` of each prompt's summed cells."""
        means = self._table_rows(encoded, "mean")
        counts = self._table_rows(encoded, "count")
        policy = self.policy
        variances = [policy.noise_scale**2 / (policy.prior_strength + c) for c in counts]
        mean = self._combine(encoded, *means)
        std = np.sqrt(self._combine(encoded, *variances, squared=True))
        return mean, std

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
        winners = np.argmax(mean[None] + std[None] * normals, axis=-1)  # (draws, B)
        thompson = np.stack([np.bincount(w, minlength=size) for w in winners.T]) / len(winners)
        eps = self.config.epsilon.value(step)
        return thompson, (1.0 - eps) * thompson + eps / size

    def _learn(self, stats: WindowStats) -> None:
        for table, reward, weight in (
            (self._themes, stats.theme_reward, stats.theme_weight),
            (self._regions, stats.region_reward, stats.region_weight),
        ):
            seen = weight > 0
            count = table.data["count"] * self.policy.discount
            mean = table.data["mean"]
            evidence = self.policy.prior_strength + count
            mean[seen] = (evidence[seen] * mean[seen] + reward[seen]) / (evidence[seen] + 1.0)
            count[seen] += 1.0
            table.data["count"] = count
