"""`LanguageRouterCallback`: language-routed rollouts in TRL's ``GRPOTrainer``.

How it plugs in (TRL 1.16 has no public per-rollout prompt hook, and callbacks never see the
trainer, so :meth:`LanguageRouterCallback.attach` wraps four methods *on the trainer instance*):

* ``_generate_and_score_completions(inputs)``: before generation, every rank gathers the routing
  contexts of the whole generation batch (one small ``gather_object``), routes the groups with
  the router's step and the global group index as key (so every rank computes the same plan),
  and passes on copies of its own input dicts whose ``prompt`` carries the directive of the
  rollout's language and whose ``language`` column holds the *requested* language (the prompt's
  own language moves to ``prompt_language``). Reward functions get both through their kwargs.
* ``_calculate_rewards(...)``: TRL returns the rewards of every rollout of every rank, already
  gathered, as a (B*K, n_funcs) tensor; the weighted sum of the marked reward functions (all of
  them by default, with ``reward_weights``, as GRPO sums them) is recorded with the plan, so all
  ranks feed identical data to the router and hold identical state without extra communication.
* ``log(logs)``: router, routing and reward metrics are added before TRL and the reporters
  (W&B, TensorBoard, ``state.log_history``) see the logs. Each rank's reward function scored
  only its own slice of the rollouts, so reward functions that export additive sums
  (``metric_sums`` / ``metrics_from_sums``, as :class:`lrpo.rewards.SemanticReward` does) have
  them summed over the ranks first (one small ``gather_object`` per logging step): every rank
  logs the metrics of all rollouts.
* ``train(resume_from_checkpoint=...)``: remembers the checkpoint so that ``on_train_begin``
  restores the router state saved there by ``on_save``.

In vLLM server mode TRL sends ``prompts[::K]`` with ``n=K``, which would drop the per-rollout
prompts; the callback makes it send all B*K prompts with ``n=1`` while routing is active.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from transformers import TrainerCallback

from lrpo.languages import DEFAULT_TAG_TEMPLATE, DirectiveStyle, apply_directive
from lrpo.rewards import SemanticReward
from lrpo.router import BaseRouter, RoutingContext, RoutingPlan

from ._checks import check_trainer

__all__ = ["HEATMAP_NAMES", "ROUTER_STATE_NAME", "LanguageRouterCallback"]

#: File written into every checkpoint folder with the router state.
ROUTER_STATE_NAME = "lrpo_router_state.json"
#: PNG heatmaps of the router's tables written at each checkpoint with ``save_heatmaps=True``.
HEATMAP_NAMES = {"themes": "lrpo_router_themes.png", "regions": "lrpo_router_regions.png"}
#: Methods of a reward function through which the callback reads its metrics.
_METRIC_METHODS = ("metrics", "metric_sums", "metrics_from_sums")


class LanguageRouterCallback(TrainerCallback):
    """Route each GRPO rollout to a language, pass it to the rewards, learn from the rewards.

    Parameters
    ----------
    router : BaseRouter
        E.g. :class:`lrpo.LanguageRouter`; its ``num_rollouts`` must equal ``num_generations``.
    language_column, theme_column, region_column : str
        Dataset columns with the prompt's language code, its theme(s) and region(s). The
        region column is optional in the data (missing means no region).
    theme_embedding_column : str, optional
        Dataset column with each prompt's theme embedding (a list of floats), passed to the
        router as ``RoutingContext.theme_embedding``: the router then routes by soft weights
        over its ``theme_anchors`` instead of the theme labels. Needs a router configured with
        ``theme_input="embeddings"``; the theme column becomes optional.
    requested_key : str, optional
        Key of each rollout's input dict that receives the requested language, i.e. the
        keyword the reward functions read. Default: ``language_column`` (which
        :class:`lrpo.rewards.SemanticReward` reads).
    prompt_language_key : str, default ``"prompt_language"``
        Key that keeps the prompt's own language.
    directive : {"tag", "english", "native", "system"}
        How a routed prompt asks for its language (:func:`lrpo.languages.apply_directive`).
        A rollout gets the directive iff its language differs from the prompt's; the K_on
        leading rollouts (and unrouted themes) keep the original prompt.
    tag_template : str
        Template of the ``tag`` style.
    route_eval : bool, default False
        Route evaluation prompts too (never recorded). By default evaluation keeps the
        prompt's language.
    strict_resume : bool, default True
        Resuming from a checkpoint without a router state raises instead of routing with the
        current (fresh) state.
    save_heatmaps : bool, default False
        At every checkpoint, also draw the router's theme x language and region x language
        tables (the routing logits) as PNGs in the checkpoint folder (:data:`HEATMAP_NAMES`;
        a table without rows is skipped), on the main process. Needs matplotlib (the ``plot``
        extra), checked here.

    Notes
    -----
    Logged metrics: the router's own (``router/step``, ``router/epsilon``, cold starts, ...),
    the share and mean recorded reward of each language since the last log
    (``router/share/<lang>``, ``router/reward/<lang>``), ``router/entropy`` (mean entropy of
    the distribution the last plan's prompts were routed with), and each reward function's
    ``metrics()``, prefixed by its name when several functions have metrics. A reward function
    with ``metric_sums(reset=...)`` and ``metrics_from_sums(sums)`` has its sums added over the
    data-parallel ranks first, so every rank logs the metrics of all rollouts; the
    ``metrics()`` of other functions describe the local rank's rollouts only. The sums of
    evaluation rollouts are kept apart: they are logged with the evaluation metrics
    (``eval_reward/mean``, ``eval_gate/pass_rate``, ...), not in the next training log.

    Examples
    --------
    >>> router = LanguageRouter(RouterConfig(languages=["de", "ja", "sw"], num_rollouts=4,
    ...                                      num_on_policy=1))  # doctest: +SKIP
    >>> callback = LanguageRouterCallback(router, save_heatmaps=True)  # doctest: +SKIP
    >>> trainer = GRPOTrainer(model, reward_funcs=[SemanticReward()], args=GRPOConfig(
    ...     num_generations=4), train_dataset=ds)  # doctest: +SKIP
    >>> callback.attach(trainer).train()  # doctest: +SKIP
    """

    def __init__(
        self,
        router: BaseRouter,
        *,
        language_column: str = "language",
        theme_column: str = "theme",
        region_column: str = "region",
        theme_embedding_column: str | None = None,
        requested_key: str | None = None,
        prompt_language_key: str = "prompt_language",
        directive: DirectiveStyle | str = DirectiveStyle.TAG,
        tag_template: str = DEFAULT_TAG_TEMPLATE,
        route_eval: bool = False,
        strict_resume: bool = True,
        save_heatmaps: bool = False,
    ) -> None:
        if not isinstance(router, BaseRouter):
            raise TypeError(f"router must be an lrpo router, got {type(router).__name__}")
        apply_directive("x", router.languages[0], directive, tag_template=tag_template)
        if theme_embedding_column is not None and router.config.theme_input != "embeddings":
            raise ValueError(
                f"theme_embedding_column={theme_embedding_column!r} needs a router that reads "
                f"theme embeddings, but its theme_input is {router.config.theme_input!r}; set "
                "RouterConfig(theme_input='embeddings', theme_anchors={theme: vector}) or drop "
                "theme_embedding_column"
            )
        if save_heatmaps:
            try:
                import matplotlib  # noqa: F401
            except ImportError as error:
                raise ImportError(
                    "save_heatmaps=True draws PNGs with matplotlib, which is not installed: "
                    "pip install 'lrpo[plot]', or pass save_heatmaps=False"
                ) from error
        self.router = router
        self.language_column = language_column
        self.theme_column = theme_column
        self.region_column = region_column
        self.theme_embedding_column = theme_embedding_column
        self.requested_key = requested_key or language_column
        self.prompt_language_key = prompt_language_key
        self.directive = DirectiveStyle(directive)
        self.tag_template = tag_template
        self.route_eval = route_eval
        self.strict_resume = strict_resume
        self.save_heatmaps = save_heatmaps
        self.trainer: Any = None
        #: The latest training plan (B x K over all ranks) and its recorded rewards.
        self.last_plan: RoutingPlan | None = None
        self.last_rewards: np.ndarray | None = None
        self._marked: list[Callable] = []
        # reward-function metric sums set aside around evaluation, by id of the function
        self._held_sums: dict[str, dict[int, dict[str, float]]] = {"train": {}, "eval": {}}
        # (column, weight) of each reward function the router learns from
        self._learned_columns: list[tuple[int, float]] = []
        self._pending: RoutingPlan | None = None
        self._per_rollout = False
        self._resume_dir: str | None = None
        self._last_saved_step = -1
        # Per language since the last log: [rollouts, reward sum, scored rollouts].
        self._window: dict[str, list[float]] = {}

    # ------------------------------------------------------------------ setup
    def reward_func(self, func: Callable) -> Callable:
        """Mark the reward function(s) whose rewards the router learns from; returns a wrapper.

        Without any marked function the router learns from the weighted sum of all of them
        (what GRPO optimises). The wrapper keeps the function's name and its metric methods
        (``metrics``, ``metric_sums``, ``metrics_from_sums``).
        """
        if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__):

            async def marked(*args: Any, **kwargs: Any) -> Any:
                return await func(*args, **kwargs)
        else:

            def marked(*args: Any, **kwargs: Any) -> Any:
                return func(*args, **kwargs)

        functools.update_wrapper(
            marked, func, assigned=("__module__", "__name__", "__doc__"), updated=()
        )
        if not hasattr(marked, "__name__") or marked.__name__ == "marked":
            marked.__name__ = type(func).__name__
        for name in _METRIC_METHODS:
            if callable(getattr(func, name, None)):
                setattr(marked, name, getattr(func, name))
        self._marked.append(marked)
        return marked

    def attach(self, trainer: Any) -> Any:
        """Check the trainer against the router and wire the callback in; returns the trainer.

        Call once, after building the ``GRPOTrainer`` and before ``trainer.train()``; adding
        the callback to ``callbacks=`` is optional (attach adds it). Raises at once on an
        unsupported TRL version, changed private methods, ``num_generations != num_rollouts``,
        ``num_on_policy >= num_generations`` or missing language/theme columns. The
        trainer's ``reward_weights`` are read here.
        """
        if self.trainer is trainer:
            return trainer
        if self.trainer is not None:
            raise RuntimeError("this LanguageRouterCallback is attached to another trainer")
        check_trainer(
            trainer,
            self.router,
            required=(self.language_column, self.theme_embedding_column or self.theme_column),
            route_eval=self.route_eval,
        )
        funcs = list(trainer.reward_funcs)
        stray = [f.__name__ for f in self._marked if not any(f is g for g in funcs)]
        if stray:
            raise ValueError(
                f"reward functions {stray} were marked by callback.reward_func but "
                "are not among the trainer's reward_funcs"
            )
        marked = [i for i, f in enumerate(funcs) if any(f is g for g in self._marked)]
        weights = trainer.reward_weights.tolist()
        self._learned_columns = [(i, weights[i]) for i in marked or range(len(funcs))]
        self._restrict_gates(trainer, funcs)
        self._wrap(trainer)
        if self not in trainer.callback_handler.callbacks:
            trainer.add_callback(self)
        self.trainer = trainer
        return trainer

    def _restrict_gates(self, trainer: Any, funcs: list) -> None:
        """Default language gates of SemanticRewards choose among the languages the run asks
        for: the router's, the datasets' prompt languages (K_on rollouts) and English."""
        languages = list(self.router.config.languages)
        evaluation = getattr(trainer, "eval_dataset", None)
        datasets = [
            trainer.train_dataset,
            *(evaluation.values() if isinstance(evaluation, dict) else [evaluation]),
        ]
        for dataset in datasets:
            if self.language_column in (getattr(dataset, "column_names", None) or ()):
                languages += [c for c in dataset.unique(self.language_column) if isinstance(c, str)]
        for func in funcs:
            inner = getattr(func, "__wrapped__", func)
            if isinstance(inner, SemanticReward):
                inner.use_languages(languages)

    def _wrap(self, trainer: Any) -> None:
        generate_and_score = trainer._generate_and_score_completions
        calculate_rewards = trainer._calculate_rewards
        log, train = trainer.log, trainer.train

        def _generate_and_score_completions(inputs):
            return self._generate_and_score(generate_and_score, inputs)

        def _calculate_rewards(inputs, prompts, completions, completion_ids_list):
            out = calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._after_rewards(out)
            return out

        def log_with_router(logs, *args, **kwargs):
            if any(k.startswith("eval_") for k in logs):
                logs.update({f"eval_{k}": v for k, v in self._reward_metrics("eval").items()})
            elif "train_runtime" not in logs:
                logs.update(self.metrics())
            return log(logs, *args, **kwargs)

        def train_and_restore(resume_from_checkpoint=None, *args, **kwargs):
            self._resume_dir = _resolve_checkpoint(resume_from_checkpoint, trainer.args)
            return train(resume_from_checkpoint, *args, **kwargs)

        functools.update_wrapper(train_and_restore, train)
        trainer._generate_and_score_completions = _generate_and_score_completions
        trainer._calculate_rewards = _calculate_rewards
        trainer.log = log_with_router
        trainer.train = train_and_restore
        generation = getattr(trainer, "vllm_generation", None)
        if getattr(trainer, "use_vllm", False) and generation is not None:
            self._wrap_vllm(generation)

    def _wrap_vllm(self, generation: Any) -> None:
        """Server mode: send all B*K per-rollout prompts with n=1 instead of prompts[::K], n=K."""
        generate = generation.generate
        params = tuple(inspect.signature(generate).parameters)
        if params[:3] != ("prompts", "images", "num_generations"):
            raise RuntimeError(
                f"VLLMGeneration.generate takes {params}; lrpo expects "
                "(prompts, images, num_generations, ...): unsupported TRL"
            )

        def generate_per_rollout(prompts, images, num_generations, *args, **kwargs):
            if self._per_rollout and generation.mode == "server":
                num_generations = 1
            return generate(prompts, images, num_generations, *args, **kwargs)

        generation.generate = generate_per_rollout

    # --------------------------------------------------------------- routing
    def _contexts(self, rows: list[dict]) -> list[RoutingContext]:
        """One context per row; a row repeating the previous row's columns (the K rollouts of
        a prompt come in a row) reuses its context instead of building it again."""
        contexts: list[RoutingContext] = []
        previous: tuple | None = None
        for row in rows:
            values = self._context_values(row)
            if values != previous:
                previous, context = values, self._context(values)
            contexts.append(context)
        return contexts

    def _context_values(self, row: dict) -> tuple:
        """The row's language, theme, region and theme embedding, as comparable values."""
        try:
            language = row[self.language_column]
        except KeyError:
            raise KeyError(
                f"a training example has no {self.language_column!r} column (keys: {sorted(row)})"
            ) from None
        embedding = row.get(self.theme_embedding_column) if self.theme_embedding_column else None
        return (
            language,
            _comparable(row.get(self.theme_column)),
            _comparable(row.get(self.region_column)),
            _comparable(embedding),
        )

    @staticmethod
    def _context(values: tuple) -> RoutingContext:
        language, theme, region, embedding = values
        return RoutingContext.coerce(
            {"language": language, "theme": theme, "region": region, "theme_embedding": embedding}
        )

    def _generate_and_score(self, original: Callable, inputs: list[dict]) -> Any:
        trainer = self.trainer
        training = trainer.model.training
        contexts = self._contexts(inputs)
        if not training and not self.route_eval:
            languages: Sequence[str] = [context.language for context in contexts]
        else:
            plan = self._plan(contexts, training)
            start = trainer.accelerator.process_index * len(inputs)
            languages = plan.languages.ravel()[start : start + len(inputs)].tolist()
            self._pending = plan if training else None
        rows = [
            self._rewrite(row, context.language, language)
            for row, context, language in zip(inputs, contexts, languages, strict=True)
        ]
        self._per_rollout = True
        if not training:
            self._hold_reward_sums("train")  # the totals so far wait for the next training log
        try:
            return original(rows)
        finally:
            self._per_rollout = False
            self._pending = None
            if not training:
                self._hold_reward_sums("eval")

    def _plan(self, contexts: list[RoutingContext], training: bool) -> RoutingPlan:
        """The plan of the whole generation batch, identical on every rank."""
        trainer = self.trainer
        k = trainer.num_generations if training else trainer.num_generations_eval
        if trainer.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            contexts = gather_object(contexts)
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
        if not training:
            keys = [f"eval-{i}" for i in range(len(groups))]
        return self.router.route(groups, step=self.router.step, keys=keys)

    def _rewrite(self, row: dict, home: str, language: str) -> dict:
        out = dict(row)
        out[self.prompt_language_key] = home
        out[self.requested_key] = language
        if language != home:
            out["prompt"] = apply_directive(
                row["prompt"], language, self.directive, tag_template=self.tag_template
            )
        return out

    # -------------------------------------------------------------- learning
    def _after_rewards(self, rewards_per_func: Any) -> None:
        plan, self._pending = self._pending, None
        if plan is None:
            return
        rows = rewards_per_func.tolist()  # a step's rollouts are few: plain floats will do
        if len(rows) != plan.languages.size:
            raise RuntimeError(
                f"TRL returned {len(rows)} rewards for a plan of {plan.languages.size} rollouts"
            )
        totals = [self._learned_reward(row) for row in rows]
        rewards = np.array(totals).reshape(plan.languages.shape)
        self.router.record(plan, rewards)
        self.last_plan, self.last_rewards = plan, rewards
        self._add_to_window(plan.languages.ravel().tolist(), totals)

    def _learned_reward(self, row: list[float]) -> float:
        """The weighted sum of one rollout's learned rewards, as GRPO sums them: a function
        that returned None (NaN) is left out, and NaN if every one did."""
        terms = [row[i] * weight for i, weight in self._learned_columns if not math.isnan(row[i])]
        return sum(terms) if terms else math.nan

    def _add_to_window(self, languages: list[str], rewards: list[float]) -> None:
        """Count each rollout, and its reward if finite, for its language."""
        window = self._window
        for code, reward in zip(languages, rewards, strict=True):
            counts = window.setdefault(code, [0, 0.0, 0])
            counts[0] += 1
            if math.isfinite(reward):
                counts[1] += reward
                counts[2] += 1

    # --------------------------------------------------------------- metrics
    def metrics(self) -> dict[str, float]:
        """Router metrics, share and mean reward per language since the last call, entropy,
        and the reward functions' own metrics (reset at each call; see the class notes).

        Call it on every rank at once when there are several: it sums reward metrics over
        the ranks (``trainer.log``, where the callback calls it, runs on every rank).
        """
        out = dict(self.router.metrics())
        total = sum(rollouts for rollouts, _, _ in self._window.values())
        for code in sorted(self._window):
            rollouts, sums, scored = self._window[code]
            out[f"router/share/{code}"] = rollouts / total
            if scored:
                out[f"router/reward/{code}"] = sums / scored
        if total and self.last_plan is not None:
            out["router/entropy"] = self._entropy(self.last_plan)
        self._window.clear()
        out.update(self._reward_metrics())
        return out

    def _hold_reward_sums(self, kind: str) -> None:
        """Move the reward functions' running sums into the ``kind`` ("train"/"eval") store."""
        held = self._held_sums[kind]
        for func in self.trainer.reward_funcs:
            if _has_sums(func):
                held[id(func)] = _add([held.get(id(func), {}), func.metric_sums(reset=True)])

    def _reward_metrics(self, kind: str = "train") -> dict[str, float]:
        """Each reward function's metrics; additive sums are added over the ranks first.

        ``kind="eval"`` reports the sums held from evaluation, and only those."""
        if self.trainer is None:
            return {}
        funcs = [f for f in self.trainer.reward_funcs if callable(getattr(f, "metrics", None))]
        held = self._held_sums[kind]
        if kind == "eval":
            funcs = [f for f in funcs if id(f) in held]
            sums = [held.pop(id(f)) for f in funcs]
        else:
            sums = [
                _add([held.pop(id(f), {}), f.metric_sums(reset=True)]) if _has_sums(f) else None
                for f in funcs
            ]
        if self.trainer.accelerator.num_processes > 1 and any(s is not None for s in sums):
            from accelerate.utils import gather_object

            ranks = gather_object([sums])  # one list per rank, in rank order on every rank
            sums = [None if s is None else _add([r[i] for r in ranks]) for i, s in enumerate(sums)]
        out: dict[str, float] = {}
        for func, total in zip(funcs, sums, strict=True):
            if total is not None:
                values = func.metrics_from_sums(total)
            else:
                try:
                    values = func.metrics(reset=True)
                except TypeError:
                    values = func.metrics()
            prefix = "" if len(funcs) == 1 else f"{getattr(func, '__name__', 'reward')}/"
            out.update({f"{prefix}{k}": float(v) for k, v in values.items()})
        return out

    def _entropy(self, plan: RoutingPlan) -> float:
        """Mean entropy (nats) over the plan's prompts of the effective distribution they were
        routed with, which the plan carries; a router that draws without one (Thompson
        sampling) gives its current distribution at the plan's step instead."""
        effective = plan.effective
        if effective is None:
            _, effective = self.router.distributions(plan.contexts, step=plan.step)
        logs = np.log(np.where(effective > 0, effective, 1.0))
        return float(-(effective * logs).sum(axis=1).mean())

    # ------------------------------------------------------------ callbacks
    def on_train_begin(self, args, state, control, **kwargs):
        if self.trainer is None:
            raise RuntimeError(
                "LanguageRouterCallback was not attached: call callback.attach(trainer) after "
                "building the GRPOTrainer and before trainer.train()"
            )
        if state.global_step > 0:
            folder = self._resume_dir or os.path.join(
                args.output_dir, f"checkpoint-{state.global_step}"
            )
            path = os.path.join(folder, ROUTER_STATE_NAME)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    self.router.load_state_dict(json.load(handle)["router"])
            elif self.strict_resume:
                raise FileNotFoundError(
                    f"resuming at step {state.global_step} but {path} does not exist, so the "
                    "router would not route as the interrupted run; resume from a checkpoint "
                    "saved with the callback, or pass strict_resume=False to keep the current "
                    "router state"
                )
        return control

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self._last_saved_step or not state.is_world_process_zero:
            return control
        self._last_saved_step = state.global_step
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, ROUTER_STATE_NAME)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"router": self.router.state_dict()}, handle)
        os.replace(path + ".tmp", path)
        if self.save_heatmaps:
            self._save_heatmaps(folder, state.global_step)
        return control

    def _save_heatmaps(self, folder: str, step: int) -> None:
        """The router's theme and region logit tables as PNGs in the checkpoint ``folder``."""
        from lrpo.sim.plots import plot_table

        tables = {
            "themes": (self.router.theme_table(), "A: theme x language"),
            "regions": (self.router.region_table(), "B: region x language"),
        }
        for key, ((names, values), title) in tables.items():
            if names:
                path = os.path.join(folder, HEATMAP_NAMES[key])
                plot_table(names, values, list(self.router.languages), path,
                           title=f"{title}, step {step}")  # fmt: skip


def _comparable(value: Any) -> Any:
    """A column value that ``==`` compares as a whole: lists, arrays, tensors become tuples."""
    return value if value is None or isinstance(value, str) else tuple(value)


def _has_sums(func: Any) -> bool:
    return callable(getattr(func, "metric_sums", None)) and callable(
        getattr(func, "metrics_from_sums", None)
    )


def _add(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """Key-by-key sum of metric sums; a key missing from a part counts 0."""
    total: dict[str, float] = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, 0.0) + value
    return total


def _resolve_checkpoint(resume: str | bool | None, args: Any) -> str | None:
    if resume is True:
        from transformers.trainer_utils import get_last_checkpoint

        return get_last_checkpoint(args.output_dir)
    return resume if isinstance(resume, str) else None
