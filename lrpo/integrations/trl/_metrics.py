"""The metered reward functions' metrics over every rank, training and evaluation kept apart.

Each rank's reward function scores only that rank's slice of the rollouts, so the
:class:`~lrpo.metrics.MetricSums` of every rank are gathered and merged at each log (one small
``gather_object``): every rank logs the metrics of all rollouts, as one process scoring the
whole batch would. Sums counted during evaluation are set aside and logged with the evaluation
metrics, never in the next training log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from lrpo.metrics import Metered, MetricSums

from ._ranks import gather_ranks

__all__ = ["RewardMetrics"]

Mode = Literal["train", "eval"]


class RewardMetrics:
    """Logged metrics of the reward functions that are :class:`~lrpo.metrics.Metered`.

    Parameters
    ----------
    funcs : sequence
        The trainer's reward functions; those that are not metered are left out.
    names : sequence of str
        Their names (``trainer.reward_func_names``): a function's metrics are prefixed
        ``<name>/`` when several functions are metered.
    accelerator : accelerate.Accelerator
        Gathers the other ranks' sums.
    """

    def __init__(self, funcs: Sequence[Any], names: Sequence[str], accelerator: Any) -> None:
        metered = [
            (name, f) for f, name in zip(funcs, names, strict=True) if isinstance(f, Metered)
        ]
        self._prefixes = [f"{name}/" if len(metered) > 1 else "" for name, _ in metered]
        self._funcs: list[Metered] = [func for _, func in metered]
        self._accelerator = accelerator
        # per mode, per metered function: the sums set aside so far
        self._held: dict[str, list[list[MetricSums]]] = {
            mode: [[] for _ in self._funcs] for mode in ("train", "eval")
        }

    def hold(self, mode: Mode) -> None:
        """Set the functions' running sums aside for the next ``mode`` log (and reset them).

        Parameters
        ----------
        mode : {"train", "eval"}
            Whose log the sums counted so far belong to.
        """
        for held, func in zip(self._held[mode], self._funcs, strict=True):
            held.append(func.metric_sums(reset=True))

    def metrics(self, mode: Mode) -> dict[str, float]:
        """The metrics of ``mode``'s sums since its last log, merged over the ranks.

        Call it on every rank at once. ``"train"`` also takes the functions' running sums.

        Parameters
        ----------
        mode : {"train", "eval"}
            Which sums to log.

        Returns
        -------
        dict of str to float
            Each metered function's derived metrics, prefixed by its name when there are
            several; empty when there is nothing to log.
        """
        if mode == "train":
            self.hold("train")
        parts, self._held[mode] = self._held[mode], [[] for _ in self._funcs]
        if not any(parts):
            return {}
        local = [MetricSums.merge(held) for held in parts]
        ranks = gather_ranks(self._accelerator, [local])  # one list per rank, in rank order
        out: dict[str, float] = {}
        for i, prefix in enumerate(self._prefixes):
            total = MetricSums.merge(rank[i] for rank in ranks)
            out.update((f"{prefix}{key}", float(value)) for key, value in total.metrics().items())
        return out
