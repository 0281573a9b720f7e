"""A plain-Python LRPO router, written per rollout: the baseline of the throughput benchmark.

It implements the routing rule of :class:`lrpo.LanguageRouter` the way a competent engineer
would without numpy: dicts of ``list[float]`` logit rows, a softmax with ``math.exp`` once per
prompt (or, with ``softmax_per_rollout``, once per routed rollout, as a policy object whose
``sample(context)`` draws one language at a time would), and one ``random.Random`` epsilon
coin plus one draw (uniform, or by bisecting the softmax CDF) per routed rollout. Its update
loops over recorded rollouts, sums rewards per (theme, region, language) bucket in a dict,
z-scores bucket means across languages within each (theme, region), and moves every row once
towards the count-weighted mean of its buckets (the order-free rule lrpo uses; the reference
instead EMA-updates a theme row once per region bucket, which costs the same).

Draws come from ``random.Random``, not lrpo's hashed uniforms, so plans agree with the router
in distribution, not draw for draw.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence

from lrpo.router import LanguageRouter, RoutingContext

__all__ = ["PurePythonRouter"]


class PurePythonRouter:
    """Per-rollout pure-Python copy of :class:`lrpo.LanguageRouter` (labels, uniform cold start).

    Parameters
    ----------
    languages : sequence of str
        The arms.
    theme_rows, region_rows : dict of str to list of float
        Logit rows; unseen names get a zero row (lrpo's ``cold_start="prior"`` with no prior).
    num_rollouts, num_on_policy : int
        K and K_on.
    unrouted_themes, regional_themes : sequence of str
        Themes that are never routed, and themes whose prompts add their region rows.
    temperature, epsilon : callable of step -> float
        The annealing schedules.
    ema_alpha : float
        EMA step of an update.
    seed : int
        Seed of the ``random.Random`` stream.
    softmax_per_rollout : bool
        Recompute the prompt's distribution for every routed rollout instead of once per prompt.
    """

    def __init__(
        self,
        languages: Sequence[str],
        theme_rows: dict[str, list[float]],
        region_rows: dict[str, list[float]],
        *,
        num_rollouts: int,
        num_on_policy: int,
        unrouted_themes: Sequence[str],
        regional_themes: Sequence[str],
        temperature,
        epsilon,
        ema_alpha: float,
        seed: int = 0,
        softmax_per_rollout: bool = False,
    ) -> None:
        self.languages = list(languages)
        self.theme_rows = {name: list(row) for name, row in theme_rows.items()}
        self.region_rows = {name: list(row) for name, row in region_rows.items()}
        self.num_rollouts = num_rollouts
        self.num_on_policy = num_on_policy
        self.unrouted_themes = set(unrouted_themes)
        self.regional_themes = set(regional_themes)
        self.temperature = temperature
        self.epsilon = epsilon
        self.ema_alpha = ema_alpha
        self.rng = random.Random(seed)
        self.softmax_per_rollout = softmax_per_rollout
        self.records: list[tuple[str, str | None, str, float]] = []

    @classmethod
    def from_router(
        cls, router: LanguageRouter, seed: int = 0, softmax_per_rollout: bool = False
    ) -> PurePythonRouter:
        """A baseline with the same languages, logits, schedules and settings as ``router``."""
        config = router.config
        theme_names, theme_logits = router.theme_table()
        region_names, region_logits = router.region_table()
        return cls(
            config.languages,
            dict(zip(theme_names, theme_logits.tolist(), strict=True)),
            dict(zip(region_names, region_logits.tolist(), strict=True)),
            num_rollouts=config.num_rollouts,
            num_on_policy=config.num_on_policy,
            unrouted_themes=config.unrouted_themes,
            regional_themes=config.regional_themes,
            temperature=config.temperature.value,
            epsilon=config.epsilon.value,
            ema_alpha=config.ema_alpha,
            seed=seed,
            softmax_per_rollout=softmax_per_rollout,
        )

    # ----------------------------------------------------------------- routing
    def probabilities(self, context: RoutingContext, step: int) -> list[float]:
        """Softmax of the prompt's summed logits at temperature ``tau(step)``."""
        size = len(self.languages)
        logits = [0.0] * size
        for theme in context.themes:
            row = self.theme_rows.get(theme)
            if row is not None:
                for i in range(size):
                    logits[i] += row[i]
        if context.regions and not self.regional_themes.isdisjoint(context.themes):
            for region in context.regions:
                row = self.region_rows.get(region)
                if row is not None:
                    for i in range(size):
                        logits[i] += row[i]
        tau = max(self.temperature(step), 1e-6)
        top = max(logits)
        weights = [math.exp((z - top) / tau) for z in logits]
        total = sum(weights)
        return [w / total for w in weights]

    def _cdf(self, context: RoutingContext, step: int) -> list[float]:
        """Running sums of the prompt's softmax."""
        cdf, running = [], 0.0
        for p in self.probabilities(context, step):
            running += p
            cdf.append(running)
        return cdf

    def route(self, contexts: Sequence[RoutingContext], step: int) -> list[list[str]]:
        """K language codes per prompt; the first K_on (and all of an unrouted prompt) are home."""
        languages = self.languages
        rng = self.rng
        eps = self.epsilon(step)
        k, k_on = self.num_rollouts, self.num_on_policy
        plan = []
        for context in contexts:
            home = context.language
            group = [home] * k
            if self.unrouted_themes.isdisjoint(context.themes):
                cdf = self._cdf(context, step)
                for slot in range(k_on, k):
                    if rng.random() < eps:
                        group[slot] = rng.choice(languages)
                        continue
                    if self.softmax_per_rollout and slot > k_on:
                        cdf = self._cdf(context, step)
                    index = bisect.bisect_right(cdf, rng.random() * cdf[-1])
                    group[slot] = languages[min(index, len(languages) - 1)]
            plan.append(group)
        return plan

    # ---------------------------------------------------------------- learning
    def record(self, contexts: Sequence[RoutingContext], plan: list[list[str]], rewards) -> None:
        """Append (theme, region, language, reward) for every rollout and (theme, region) pair."""
        arms = set(self.languages)
        for context, group, row_rewards in zip(contexts, plan, rewards, strict=True):
            regions = context.regions or (None,)
            for theme in context.themes:
                for region in regions:
                    for language, reward in zip(group, row_rewards, strict=True):
                        if language in arms and math.isfinite(reward):
                            self.records.append((theme, region, language, float(reward)))

    def update(self) -> None:
        """One EMA update from the recorded rollouts (z-score across languages), then forget."""
        sums: dict[tuple[str, str | None, str], list[float]] = {}
        for theme, region, language, reward in self.records:
            bucket = sums.get((theme, region, language))
            if bucket is None:
                sums[(theme, region, language)] = [reward, 1.0]
            else:
                bucket[0] += reward
                bucket[1] += 1.0
        groups: dict[tuple[str, str | None], dict[str, tuple[float, float]]] = {}
        for (theme, region, language), (total, count) in sums.items():
            groups.setdefault((theme, region), {})[language] = (total / count, count)

        theme_acc: dict[str, dict[str, list[float]]] = {}
        region_acc: dict[str, dict[str, list[float]]] = {}
        for (theme, region), means in groups.items():
            mu = sum(mean for mean, _ in means.values()) / len(means)
            var = sum((mean - mu) ** 2 for mean, _ in means.values()) / len(means)
            scale = math.sqrt(var) + 1e-6
            for language, (mean, count) in means.items():
                r_hat = (mean - mu) / scale
                cell = theme_acc.setdefault(theme, {}).setdefault(language, [0.0, 0.0])
                cell[0] += r_hat * count
                cell[1] += count
                if region is not None and theme in self.regional_themes:
                    cell = region_acc.setdefault(region, {}).setdefault(language, [0.0, 0.0])
                    cell[0] += r_hat * count
                    cell[1] += count

        size = len(self.languages)
        alpha = self.ema_alpha
        for rows, acc in ((self.theme_rows, theme_acc), (self.region_rows, region_acc)):
            for name, per_language in acc.items():
                row = rows.setdefault(name, [0.0] * size)
                for i, language in enumerate(self.languages):
                    cell = per_language.get(language)
                    if cell is not None:
                        row[i] += alpha * (cell[0] / cell[1] - row[i])
        self.records.clear()
