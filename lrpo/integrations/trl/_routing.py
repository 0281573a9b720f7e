"""The routing loop of a generation batch: the rows' contexts, one plan identical on every rank,
each rollout's prompt rewritten for its language; then the batch's rewards, as GRPO sums them,
recorded with the plan, and the metered reward functions' metrics over every rank."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lrpo.languages import DirectiveStyle, apply_directive
from lrpo.metrics import Metered, MetricSums
from lrpo.router import BaseRouter, RoutingContext, RoutingPlan

__all__ = ["Mode", "PromptRouter", "RewardFeedback", "RewardMetrics", "run_languages"]

Mode = Literal["train", "eval"]


def gather_ranks(accelerator: Any, items: list) -> list:
    """``items`` of every rank concatenated in rank order; every rank must call it at once."""
    if accelerator.num_processes == 1:
        return items
    from accelerate.utils import gather_object

    return gather_object(items)


@dataclass
class PromptRouter:
    """Turns the rollouts' input dicts of one rank into routed ones (the options of
    ``LanguageRouterCallback``). Every rank gathers the whole batch's contexts and routes them
    with the same step and keys, so all compute the same plan, and rewrites its own slice."""

    router: BaseRouter
    language_column: str
    theme_column: str
    region_column: str
    theme_embedding_column: str | None
    requested_key: str | None
    prompt_language_key: str
    directive: DirectiveStyle | str
    tag_template: str

    def __post_init__(self) -> None:
        router, column = self.router, self.theme_embedding_column
        apply_directive("x", router.languages[0], self.directive, tag_template=self.tag_template)
        if column is not None and router.config.theme_input != "embeddings":
            raise ValueError(
                f"theme_embedding_column={column!r} needs a router that reads "
                f"theme embeddings, but its theme_input is {router.config.theme_input!r}; set "
                "RouterConfig(theme_input='embeddings', theme_anchors={theme: vector}) or drop "
                "theme_embedding_column"
            )
        self.requested_key = self.requested_key or self.language_column
        self.directive = DirectiveStyle(self.directive)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The dataset columns every routed row must have."""
        return (self.language_column, self.theme_embedding_column or self.theme_column)

    def route(
        self, inputs: list[dict], accelerator: Any, k: int, *, key_prefix: str | None = None
    ) -> tuple[list[dict], RoutingPlan]:
        """Copies of this rank's ``inputs`` (K consecutive rows per prompt) rewritten by the
        plan of the whole batch over all ranks, and that plan. Groups are keyed by their global
        index, or ``f"{key_prefix}{i}"`` (evaluation, apart from the training keys)."""
        contexts = self._contexts(inputs)
        plan = self._plan(gather_ranks(accelerator, contexts), k, key_prefix)
        start = accelerator.process_index * len(inputs)
        languages = plan.languages.ravel()[start : start + len(inputs)].tolist()
        return self._rewrite_all(inputs, contexts, languages), plan

    def keep(self, inputs: list[dict]) -> list[dict]:
        """Copies of ``inputs`` that keep the prompt's language (unrouted evaluation)."""
        contexts = self._contexts(inputs)
        return self._rewrite_all(inputs, contexts, [context.language for context in contexts])

    def _rewrite_all(self, inputs: list[dict], contexts: list, languages: list[str]) -> list[dict]:
        """Copies of the rows with both languages; a rollout whose requested language is not
        the prompt's gets its directive."""
        rows = []
        for row, context, language in zip(inputs, contexts, languages, strict=True):
            out = {**row, self.prompt_language_key: context.language, self.requested_key: language}
            if language != context.language:
                out["prompt"] = apply_directive(
                    row["prompt"], language, self.directive, tag_template=self.tag_template
                )
            rows.append(out)
        return rows

    def _contexts(self, rows: list[dict]) -> list[RoutingContext]:
        """One context per row; a row repeating the previous row's columns (the K rollouts of
        a prompt come in a row) reuses its context instead of building it again."""
        contexts: list[RoutingContext] = []
        previous: dict | None = None
        for row in rows:
            values = self._context_values(row)
            if values != previous:
                previous, context = values, RoutingContext.coerce(values)
            contexts.append(context)
        return contexts

    def _context_values(self, row: dict) -> dict[str, Any]:
        """The row's language, theme, region and theme embedding, as comparable values."""
        try:
            language = row[self.language_column]
        except KeyError:
            raise KeyError(
                f"a training example has no {self.language_column!r} column (keys: {sorted(row)})"
            ) from None
        embedding = row.get(self.theme_embedding_column) if self.theme_embedding_column else None
        return {
            "language": language,
            "theme": _comparable(row.get(self.theme_column)),
            "region": _comparable(row.get(self.region_column)),
            "theme_embedding": _comparable(embedding),
        }

    def _plan(self, contexts: list[RoutingContext], k: int, key_prefix: str | None) -> RoutingPlan:
        """The plan of the whole generation batch, identical on every rank."""
        if len(contexts) % k:
            raise RuntimeError(
                f"the generation batch has {len(contexts)} rollouts, not a multiple of "
                f"num_generations={k}: a custom sampler broke the groups"
            )
        groups = contexts[::k]
        if any(context != groups[i // k] for i, context in enumerate(contexts)):
            raise RuntimeError(
                "consecutive rollouts of one GRPO group carry different contexts: "
                "the sampler must repeat each prompt K times in a row"
            )
        keys: Any = np.arange(len(groups))
        if key_prefix is not None:
            keys = [f"{key_prefix}{i}" for i in range(len(groups))]
        return self.router.route(groups, step=self.router.step, keys=keys)


def run_languages(router: BaseRouter, datasets: Iterable[Any], column: str) -> list[str]:
    """The languages a run asks for: the router's, then the datasets' prompt languages (the
    K_on rollouts answer in them); a default language gate chooses among these."""
    languages = list(router.config.languages)
    for dataset in datasets:
        if column in (getattr(dataset, "column_names", None) or ()):
            languages += [code for code in dataset.unique(column) if isinstance(code, str)]
    return languages


def _comparable(value: Any) -> Any:
    """A column value that ``==`` compares as a whole: lists, arrays, tensors become tuples."""
    return value if value is None or isinstance(value, str) else tuple(value)


class RewardFeedback:
    """Records each training plan to ``router`` with the rewards of the functions named in
    ``learn_from`` (all when None), weighted as the trainer's ``reward_weights``.

    TRL hands over the rewards of all ranks, already gathered, so every rank's router holds
    the same state without talking to the others."""

    def __init__(
        self,
        router: BaseRouter,
        names: Sequence[str],
        weights: Sequence[float],
        learn_from: Sequence[str] | None,
    ) -> None:
        self.router = router
        self.columns = [  # (column, weight) of each reward function the router learns from
            (i, float(weight))
            for i, (name, weight) in enumerate(zip(names, weights, strict=True))
            if learn_from is None or name in learn_from
        ]
        #: The latest recorded plan (B x K over all ranks) and its rewards.
        self.last_plan: RoutingPlan | None = None
        self.last_rewards: np.ndarray | None = None
        self._sums: dict[str, float] = {}

    def record(self, plan: RoutingPlan, rewards_per_func: Any) -> None:
        """Record ``plan`` with its rollouts' learned rewards, from TRL's (B*K, n_funcs) tensor."""
        rows = rewards_per_func.tolist()  # a step's rollouts are few: plain floats will do
        if len(rows) != plan.languages.size:
            raise RuntimeError(
                f"TRL returned {len(rows)} rewards for a plan of {plan.languages.size} rollouts"
            )
        totals = [self._learned_reward(row) for row in rows]
        rewards = np.array(totals).reshape(plan.languages.shape)
        self.router.record(plan, rewards)
        self.last_plan, self.last_rewards = plan, rewards
        sums = self._sums
        for code, reward in zip(plan.languages.ravel().tolist(), totals, strict=True):
            sums[f"{code}/rollouts"] = sums.get(f"{code}/rollouts", 0.0) + 1.0
            if math.isfinite(reward):
                sums[f"{code}/reward"] = sums.get(f"{code}/reward", 0.0) + reward
                sums[f"{code}/scored"] = sums.get(f"{code}/scored", 0.0) + 1.0

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Per language since the last reset: rollouts, and the sum and count of finite rewards
        (derived by :func:`window_metrics`); ``reset`` starts a new window."""
        sums = MetricSums(dict(self._sums), window_metrics)
        if reset:
            self._sums.clear()
        return sums

    def entropy(self) -> float:
        """Mean entropy (nats) over the last plan's prompts of the distribution they were
        routed with; a router that draws without one (Thompson sampling) gives its current
        distribution at the plan's step instead. Call it after a plan was recorded."""
        plan = self.last_plan
        assert plan is not None, "no plan recorded yet"
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


class RewardMetrics:
    """Logged metrics of the reward functions that are :class:`~lrpo.metrics.Metered`.

    Each rank scores its own slice, so the sums of every rank are merged at each log;
    evaluation sums are set aside for the evaluation log. A function's metrics are prefixed by
    its name when several functions are metered."""

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
        """Set the functions' running sums aside for the next ``mode`` log (and reset them)."""
        for held, func in zip(self._held[mode], self._funcs, strict=True):
            held.append(func.metric_sums(reset=True))

    def metrics(self, mode: Mode) -> dict[str, float]:
        """The metrics of ``mode``'s sums since its last log, merged over the ranks (call it on
        every rank at once); ``"train"`` also takes the running sums. Empty when nothing."""
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
