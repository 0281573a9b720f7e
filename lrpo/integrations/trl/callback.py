"""`LanguageRouterCallback`: language-routed rollouts in TRL's ``GRPOTrainer``.

The callback wires the routing loop (``_routing``) into the private trainer methods wrapped in
``_trainer_hooks``, and keeps the router's state in the checkpoints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from lrpo.languages import DEFAULT_TAG_TEMPLATE, DirectiveStyle
from lrpo.rewards import SemanticReward
from lrpo.router import BaseRouter, RoutingPlan

from ._routing import Mode, PromptRouter, RewardFeedback, RewardMetrics, run_languages
from ._trainer_hooks import Hooks, check_trainer, check_trl, install, routed_datasets

__all__ = ["HEATMAP_NAMES", "ROUTER_STATE_NAME", "LanguageRouterCallback"]

#: File written into every checkpoint folder with the router state.
ROUTER_STATE_NAME = "lrpo_router_state.json"
#: PNG heatmaps of the router's tables written at each checkpoint with ``save_heatmaps=True``.
HEATMAP_NAMES = {"themes": "lrpo_router_themes.png", "regions": "lrpo_router_regions.png"}


class LanguageRouterCallback(TrainerCallback):
    """Route each GRPO rollout to a language, pass it to the rewards, learn from the rewards.

    Build it with the trainer, then add it: ``trainer.add_callback(LanguageRouterCallback(
    trainer, router))``. The constructor checks everything at once (TRL version and the private
    methods it wraps, ``num_generations == num_rollouts``, ``num_on_policy < num_generations``,
    the dataset columns, the ``learn_from`` names), raising with the fix.

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
        Dataset columns with the prompt's language code, theme(s) and (optional) region(s).
    theme_embedding_column : str, optional
        Column with each prompt's theme embedding (a list of floats): the router then routes
        by soft weights over its ``theme_anchors`` (needs ``theme_input="embeddings"``); the
        theme column becomes optional.
    requested_key : str, optional
        Key of each rollout's input dict that receives the requested language, the keyword the
        reward functions read. Default: ``language_column`` (read by ``SemanticReward``).
    prompt_language_key : str, default ``"prompt_language"``
        Key that keeps the prompt's own language.
    directive : {"tag", "english", "native", "system"}
        How a routed prompt asks for its language (:func:`lrpo.languages.apply_directive`),
        added iff the rollout's language differs from the prompt's.
    tag_template : str
        Template of the ``tag`` style.
    route_eval : bool, default False
        Route evaluation prompts too (never recorded); by default they keep their language.
    strict_resume : bool, default True
        Resuming from a checkpoint without a router state raises (else: the current state).
    save_heatmaps : bool, default False
        At every checkpoint, also draw the router's theme and region tables as PNGs in the
        checkpoint folder (:data:`HEATMAP_NAMES`), on the main process (needs matplotlib).

    Notes
    -----
    Logged: the router's metrics, ``router/share/<lang>`` and ``router/reward/<lang>`` since
    the last log, ``router/entropy`` of the last plan, and the metrics of every
    :class:`lrpo.metrics.Metered` reward function over all ranks (``eval_``-prefixed for
    evaluation). A default language gate of a ``SemanticReward`` is restricted to the router's
    and the datasets' languages.
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
        if save_heatmaps:
            try:
                import matplotlib  # noqa: F401
            except ImportError as error:
                raise ImportError(
                    "save_heatmaps=True draws PNGs with matplotlib, which is not installed: "
                    "pip install 'lrpo[plot]', or pass save_heatmaps=False"
                ) from error
        check_trl(trainer)
        check_trainer(
            trainer,
            router,
            required=self._routing.required_columns,
            route_eval=route_eval,
            learn_from=learn_from,
        )
        self.trainer, self.router, self.route_eval = trainer, router, route_eval
        self.strict_resume, self.save_heatmaps = strict_resume, save_heatmaps
        self._resume_dir: str | None = None
        self._last_saved_step = -1
        names = list(trainer.reward_func_names)
        self._feedback = RewardFeedback(router, names, trainer.reward_weights.tolist(), learn_from)
        self._metrics = RewardMetrics(trainer.reward_funcs, names, trainer.accelerator)
        self._pending: RoutingPlan | None = None
        # default language gates of SemanticRewards choose among the languages of the run
        datasets = routed_datasets(trainer, route_eval=True).values()
        languages = run_languages(router, datasets, language_column)
        for func in trainer.reward_funcs:
            if isinstance(func, SemanticReward):
                func.use_languages(languages)
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

    # ------------------------------------------------------------- trainer hooks
    def _before_generation(self, inputs: list[dict]) -> list[dict]:
        trainer, routing = self.trainer, self._routing
        if trainer.model.training:
            rows, self._pending = routing.route(
                inputs, trainer.accelerator, trainer.num_generations
            )
            return rows
        self._metrics.hold("train")  # the totals so far wait for the next training log
        if not self.route_eval:
            return routing.keep(inputs)
        k = trainer.num_generations_eval
        return routing.route(inputs, trainer.accelerator, k, key_prefix="eval-")[0]

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
        if window.values:  # rollouts were recorded since the last log, so there is a plan
            logs["router/entropy"] = self._feedback.entropy()
        logs.update(self._metrics.metrics("train"))

    def _before_train(self, resume: Any) -> None:
        if self not in self.trainer.callback_handler.callbacks:
            raise RuntimeError(
                "the LanguageRouterCallback was built but not added to the trainer, so the "
                "router state would not be saved or restored; call "
                "trainer.add_callback(callback) before trainer.train()"
            )
        if resume is True:
            from transformers.trainer_utils import get_last_checkpoint

            resume = get_last_checkpoint(self.trainer.args.output_dir)
        self._resume_dir = resume if isinstance(resume, str) else None

    # --------------------------------------------------------------- callbacks
    def on_train_begin(self, args, state, control, **kwargs):
        step = state.global_step
        if step == 0:
            return control
        folder = self._resume_dir or os.path.join(args.output_dir, f"checkpoint-{step}")
        path = os.path.join(folder, ROUTER_STATE_NAME)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                self.router.load_state_dict(json.load(handle)["router"])
        elif self.strict_resume:
            raise FileNotFoundError(
                f"resuming at step {step} but {path} does not exist, so the router would not "
                "route as the interrupted run; resume from a checkpoint saved with the "
                "callback, or pass strict_resume=False to keep the current router state"
            )
        return control

    def on_save(self, args, state, control, **kwargs):
        step = state.global_step
        if not state.is_world_process_zero or step == self._last_saved_step:
            return control
        self._last_saved_step = step
        folder = os.path.join(args.output_dir, f"checkpoint-{step}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, ROUTER_STATE_NAME)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"router": self.router.state_dict()}, handle)
        os.replace(path + ".tmp", path)
        if self.save_heatmaps:  # the router's logit tables, those with rows
            from lrpo.sim.plots import plot_table

            tables = {
                "themes": (self.router.theme_table(), "A: theme x language"),
                "regions": (self.router.region_table(), "B: region x language"),
            }
            for key, ((names, values), title) in tables.items():
                if names:
                    path = os.path.join(folder, HEATMAP_NAMES[key])
                    languages = list(self.router.languages)
                    plot_table(names, values, languages, path, title=f"{title}, step {step}")
        return control
