"""Reward feedback: the rewards of a routed training batch, as GRPO sums them, recorded to the
router with the batch's plan, and counted per language for the logs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrpo.metrics import MetricSums
from lrpo.router import BaseRouter, RoutingPlan

__all__ = ["RewardFeedback", "learned_columns", "window_metrics"]


def learned_columns(
    names: Sequence[str], weights: Sequence[float], learn_from: Sequence[str] | None
) -> list[tuple[int, float]]:
    """(column, weight) of each reward function the router learns from: those named in
    ``learn_from`` (all of them when None), with the trainer's ``reward_weights``."""
    return [
        (i, float(weight))
        for i, (name, weight) in enumerate(zip(names, weights, strict=True))
        if learn_from is None or name in learn_from
    ]


class RewardFeedback:
    """Records each training plan with its learned rewards; identical on every rank.

    TRL hands over the rewards of every rollout of every rank, already gathered, so all ranks
    feed the router the same data and hold the same state without talking to each other.

    Parameters
    ----------
    router : BaseRouter
        The router that learns.
    columns : list of (int, float)
        :func:`learned_columns`: which reward columns count, and their weights.
    """

    def __init__(self, router: BaseRouter, columns: list[tuple[int, float]]) -> None:
        self.router = router
        self.columns = columns
        #: The latest recorded plan (B x K over all ranks) and its rewards.
        self.last_plan: RoutingPlan | None = None
        self.last_rewards: np.ndarray | None = None
        self._sums: dict[str, float] = {}

    def record(self, plan: RoutingPlan, rewards_per_func: Any) -> None:
        """Record ``plan`` with the learned reward of each of its rollouts.

        Parameters
        ----------
        plan : RoutingPlan
            The plan the batch was generated with.
        rewards_per_func : torch.Tensor
            (B*K, n_funcs) rewards of every rollout, NaN where a function returned None.
        """
        rows = rewards_per_func.tolist()  # a step's rollouts are few: plain floats will do
        if len(rows) != plan.languages.size:
            raise RuntimeError(
                f"TRL returned {len(rows)} rewards for a plan of {plan.languages.size} rollouts"
            )
        totals = [self._learned_reward(row) for row in rows]
        rewards = np.array(totals).reshape(plan.languages.shape)
        self.router.record(plan, rewards)
        self.last_plan, self.last_rewards = plan, rewards
        self._count(plan.languages.ravel().tolist(), totals)

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Per language since the last reset: rollouts, and the sum and count of finite rewards.

        Parameters
        ----------
        reset : bool, default False
            Start a new window.

        Returns
        -------
        MetricSums
            Derived by :func:`window_metrics` into ``router/share/<lang>`` and
            ``router/reward/<lang>``.
        """
        sums = MetricSums(dict(self._sums), window_metrics)
        if reset:
            self._sums.clear()
        return sums

    def entropy(self) -> float | None:
        """Mean entropy (nats) over the last plan's prompts of the distribution they were
        routed with, which the plan carries; a router that draws without one (Thompson
        sampling) gives its current distribution at the plan's step instead. None before any
        plan."""
        plan = self.last_plan
        if plan is None:
            return None
        effective = plan.effective
        if effective is None:
            _, effective = self.router.distributions(plan.contexts, step=plan.step)
        logs = np.log(np.where(effective > 0, effective, 1.0))
        return float(-(effective * logs).sum(axis=1).mean())

    def _learned_reward(self, row: list[float]) -> float:
        """The weighted sum of one rollout's learned rewards, as GRPO sums them: a function
        that returned None (NaN) is left out, and NaN if every one did."""
        terms = [row[i] * weight for i, weight in self.columns if not math.isnan(row[i])]
        return sum(terms) if terms else math.nan

    def _count(self, languages: list[str], rewards: list[float]) -> None:
        """Count each rollout, and its reward if finite, for its language."""
        sums = self._sums
        for code, reward in zip(languages, rewards, strict=True):
            sums[f"{code}/rollouts"] = sums.get(f"{code}/rollouts", 0.0) + 1.0
            if math.isfinite(reward):
                sums[f"{code}/reward"] = sums.get(f"{code}/reward", 0.0) + reward
                sums[f"{code}/scored"] = sums.get(f"{code}/scored", 0.0) + 1.0


def window_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """``router/share/<lang>`` (share of the rollouts) and ``router/reward/<lang>`` (mean
    finite learned reward, absent without one) of :meth:`RewardFeedback.metric_sums`."""
    codes = sorted({key.rsplit("/", 1)[0] for key in sums})
    total = sum(sums.get(f"{code}/rollouts", 0.0) for code in codes)
    out: dict[str, float] = {}
    for code in codes:
        out[f"router/share/{code}"] = sums.get(f"{code}/rollouts", 0.0) / total
        scored = sums.get(f"{code}/scored", 0.0)
        if scored:
            out[f"router/reward/{code}"] = sums[f"{code}/reward"] / scored
    return out
