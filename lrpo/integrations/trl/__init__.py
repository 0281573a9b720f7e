"""lrpo for TRL's ``GRPOTrainer``: language-routed rollouts, rewards that know the requested
language, and a router that learns from them, on one process or many.

A complete script::

    from trl import GRPOConfig, GRPOTrainer
    from lrpo import LanguageRouter, RouterConfig
    from lrpo.integrations.trl import LanguageRouterCallback
    from lrpo.rewards import SemanticReward

    router = LanguageRouter(RouterConfig(languages=["de", "ja", "sw"], num_rollouts=4,
                                         num_on_policy=1))
    trainer = GRPOTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", train_dataset=ds,
                          reward_funcs=[SemanticReward()],
                          args=GRPOConfig(num_generations=4, output_dir="out"))
    trainer.add_callback(LanguageRouterCallback(trainer, router, directive="english",
                                                learn_from=["semantic_reward"]))
    trainer.train()

``ds`` has ``prompt``, ``language`` (the prompt's language code), ``theme`` (or, with
``theme_embedding_column=``, theme embeddings) and, for the reward, ``reference`` columns. See
``recipes/trl/grpo_lrpo.py`` for a runnable script.

Why not TRL's experimental ``rollout_func``: it does not see the rows' ``language``/``theme``
columns and replaces generation only, so lrpo would re-implement TRL's generation backends and
still need the hooks in ``_trainer_hooks`` (checked against the installed TRL at build time).
"""

from ._trainer_hooks import SUPPORTED_TRL
from .callback import HEATMAP_NAMES, ROUTER_STATE_NAME, LanguageRouterCallback

__all__ = ["HEATMAP_NAMES", "ROUTER_STATE_NAME", "SUPPORTED_TRL", "LanguageRouterCallback"]
