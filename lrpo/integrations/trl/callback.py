"""`LanguageRouterCallback`: language-routed rollouts in TRL's ``GRPOTrainer``.

The callback only wires jobs together: routing and prompt rewriting (``_routing``), reward
feedback to the router (``_feedback``), the reward functions' metrics over the ranks
(``_metrics``), the router's state in checkpoints (``_checkpoint``); the private trainer
methods they hook into are wrapped in ``_trainer_hooks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from lrpo.languages import DEFAULT_TAG_TEMPLATE, DirectiveStyle
from lrpo.rewards import SemanticReward
from lrpo.router import BaseRouter, RoutingPlan

from ._checkpoint import HEATMAP_NAMES, ROUTER_STATE_NAME, RouterCheckpoint
from ._checks import check_trainer, routed_datasets
from ._feedback import RewardFeedback, learned_columns
from ._metrics import Mode, RewardMetrics
from ._routing import PromptRouter, run_languages
from ._trainer_hooks import Hooks, check_trl, install

__all__ = ["HEATMAP_NAMES", "ROUTER_STATE_NAME", "LanguageRouterCallback"]


class LanguageRouterCallback(TrainerCallback):
    """Route each GRPO rollout to a language, pass it to the rewards, learn from the rewards.

    Build it with the trainer, then add it: ``trainer.add_callback(LanguageRouterCallback(
    trainer, router))``. The constructor checks everything at once (TRL version and the private
    methods it wraps, ``num_generations == num_rollouts``, ``num_on_policy < num_generations``,
    the dataset columns, the ``learn_from`` names), raising with the fix, then hooks into the
    trainer.

    Parameters
    ----------
    trainer : trl.GRPOTrainer
        The trainer to route; one callback per trainer.
    router : BaseRouter
        E.g. :class:`lrpo.LanguageRouter`; its ``num_rollouts`` must equal ``num_generations``.
    learn_from : list of str, optional
        Names (``trainer.reward_func_names``) of the reward functions the router learns from,
        weighted by ``reward_weights``. Default: all of them, the weighted sum GRPO optimises.
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
    the distribution the last plan's prompts were routed with), and the metrics of every
    :class:`lrpo.metrics.Metered` reward function (as :class:`lrpo.rewards.SemanticReward`),
    prefixed by its name when several are metered. Their sums are added over the
    data-parallel ranks first, so every rank logs the metrics of all rollouts. The sums of
    evaluation rollouts are kept apart: they are logged with the evaluation metrics
    (``eval_reward/mean``, ``eval_gate/pass_rate``, ...), not in the next training log.
    A default language gate of a ``SemanticReward`` is restricted to the router's languages
    and the datasets' prompt languages.

    Examples
    --------
    >>> router = LanguageRouter(RouterConfig(languages=["de", "ja", "sw"], num_rollouts=4,
    ...                                      num_on_policy=1))  # doctest: +SKIP
    >>> trainer = GRPOTrainer(model, reward_funcs=[SemanticReward()], args=GRPOConfig(
    ...     num_generations=4), train_dataset=ds)  # doctest: +SKIP
    >>> trainer.add_callback(LanguageRouterCallback(trainer, router, save_heatmaps=True))
    ... # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
    """

    def __init__(
        self,
        trainer: Any,
        router: BaseRouter,
        *,
        learn_from: Sequence[str] | None = None,
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
        self._routing = PromptRouter(
            router,
            language_column=language_column,
            theme_column=theme_column,
            region_column=region_column,
            theme_embedding_column=theme_embedding_column,
            requested_key=requested_key,
            prompt_language_key=prompt_language_key,
            directive=directive,
            tag_template=tag_template,
        )
        self._checkpoint = RouterCheckpoint(
            router, strict_resume=strict_resume, save_heatmaps=save_heatmaps
        )
        check_trl(trainer)
        check_trainer(
            trainer,
            router,
            required=self._routing.required_columns,
            route_eval=route_eval,
            learn_from=learn_from,
        )
        self.trainer, self.router, self.route_eval = trainer, router, route_eval
        names = list(trainer.reward_func_names)
        self._feedback = RewardFeedback(
            router, learned_columns(names, trainer.reward_weights.tolist(), learn_from)
        )
        self._metrics = RewardMetrics(trainer.reward_funcs, names, trainer.accelerator)
        self._pending: RoutingPlan | None = None
        self._restrict_gates(language_column)
        install(
            trainer,
            Hooks(
                before_generation=self._before_generation,
                after_generation=self._after_generation,
                after_rewards=self._after_rewards,
                extend_logs=self._extend_logs,
                before_train=self._before_train,
            ),
        )

    @property
    def last_plan(self) -> RoutingPlan | None:
        """The latest recorded training plan (B x K over all ranks), None before any."""
        return self._feedback.last_plan

    @property
    def last_rewards(self) -> Any:
        """The (B, K) learned rewards recorded with :attr:`last_plan`, None before any."""
        return self._feedback.last_rewards

    def _restrict_gates(self, language_column: str) -> None:
        """Default language gates of SemanticRewards choose among the languages of the run."""
        datasets = routed_datasets(self.trainer, route_eval=True).values()
        languages = run_languages(self.router, datasets, language_column)
        for func in self.trainer.reward_funcs:
            if isinstance(func, SemanticReward):
                func.use_languages(languages)

    # ------------------------------------------------------------- trainer hooks
    def _before_generation(self, inputs: list[dict]) -> list[dict]:
        trainer = self.trainer
        if trainer.model.training:
            rows, self._pending = self._routing.route(
                inputs, accelerator=trainer.accelerator, k=trainer.num_generations
            )
            return rows
        self._metrics.hold("train")  # the totals so far wait for the next training log
        if not self.route_eval:
            return self._routing.keep(inputs)
        k = trainer.num_generations_eval
        rows, _ = self._routing.route(
            inputs, accelerator=trainer.accelerator, k=k, key_prefix="eval-"
        )
        return rows

    def _after_generation(self) -> None:
        self._pending = None
        if not self.trainer.model.training:
            self._metrics.hold("eval")

    def _after_rewards(self, rewards_per_func: Any) -> None:
        plan, self._pending = self._pending, None
        if plan is not None:
            self._feedback.record(plan, rewards_per_func)

    def _extend_logs(self, logs: dict[str, float], mode: Mode) -> None:
        if mode == "eval":
            logs.update({f"eval_{k}": v for k, v in self._metrics.metrics("eval").items()})
            return
        logs.update(self.router.metric_sums().metrics())
        window = self._feedback.metric_sums(reset=True)
        logs.update(window.metrics())
        entropy = self._feedback.entropy() if window.values else None  # no rollouts: no plan
        if entropy is not None:
            logs["router/entropy"] = entropy
        logs.update(self._metrics.metrics("train"))

    def _before_train(self, resume_from_checkpoint: Any) -> None:
        if self not in self.trainer.callback_handler.callbacks:
            raise RuntimeError(
                "the LanguageRouterCallback was built but not added to the trainer, so the "
                "router state would not be saved or restored; call "
                "trainer.add_callback(callback) before trainer.train()"
            )
        self._checkpoint.resuming(resume_from_checkpoint, self.trainer.args.output_dir)

    # --------------------------------------------------------------- callbacks
    def on_train_begin(self, args, state, control, **kwargs):
        self._checkpoint.restore(args.output_dir, state.global_step)
        return control

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._checkpoint.save(args.output_dir, state.global_step)
        return control
