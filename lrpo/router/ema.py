"""`LanguageRouter`: the LRPO contextual bandit (softmax over EMA-learned logits)."""

from __future__ import annotations

import numpy as np

from .base import DistributionRouter
from .context import EncodedBatch
from .feedback import WindowStats

__all__ = ["LanguageRouter"]


class LanguageRouter(DistributionRouter):
    """Learned language router of LRPO: theme x language and region x language logits.

    A routed rollout answers in a uniform language with probability eps, else in a draw from
    ``softmax(z / tau)``, where ``z`` sums the prompt's theme rows and, for regional prompts,
    its region rows. Every M recorded steps, bucket means per (theme, region, language) are
    normalised across languages and each row moves towards them by EMA with step alpha.

    Two flaws of the reference are fixed (see REFERENCE notes in the docs):

    * the reference EMA-updates a theme row once per region bucket, so the result depends on
      the order of buckets; here each row is updated once, from the count-weighted mean of
      its buckets;
    * the reference anneals eps only while tau is above its floor; here eps follows its own
      schedule.

    Examples
    --------
    >>> from lrpo import LanguageRouter, RouterConfig
    >>> router = LanguageRouter(RouterConfig(languages=["en", "de", "ja"], num_rollouts=4,
    ...                                      num_on_policy=1))
    >>> plan = router.route([{"language": "ja", "theme": "Reasoning / Logic"}])
    >>> plan.languages.shape, plan.languages[0, 0]
    ((1, 4), 'ja')
    >>> router.record(plan, [[1.0, 0.5, 0.2, 0.9]])
    False
    """

    def _distribution(self, encoded: EncodedBatch, step: int) -> tuple[np.ndarray, np.ndarray]:
        logits = self._combine(encoded, *self._table_rows(encoded, "logits"))
        tau = max(self.config.temperature.value(step), 1e-6)
        scaled = logits / tau
        softmax = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        softmax /= softmax.sum(axis=1, keepdims=True)
        eps = self.config.epsilon.value(step)
        return softmax, (1.0 - eps) * softmax + eps / len(self.languages)

    def _learn(self, stats: WindowStats) -> None:
        alpha = self.config.ema_alpha
        for table, reward, weight in (
            (self._themes, stats.theme_reward, stats.theme_weight),
            (self._regions, stats.region_reward, stats.region_weight),
        ):
            logits = table.data["logits"]
            seen = weight > 0
            logits[seen] += alpha * (reward[seen] - logits[seen])
