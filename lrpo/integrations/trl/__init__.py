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

Why not TRL's experimental ``rollout_func``: it replaces generation only. It receives the
rank's prompts and the trainer, not the rows' ``language``/``theme`` columns that routing
reads, and must then generate by itself, so lrpo would re-implement TRL's backends
(transformers, vLLM colocate and server) to save only the ``_generate_and_score_completions``
wrapper and the vLLM server-mode patch. The gathered rewards the router learns from, the logs
and the resume point would still need their hooks, and as a ``GRPOTrainer`` constructor
argument it would again make the callback exist before the trainer. TRL also marks it as
experimental, liable to change without notice. The private methods wrapped instead are all in
``_trainer_hooks``, checked against the installed TRL when the callback is built.
"""

from ._checkpoint import HEATMAP_NAMES, ROUTER_STATE_NAME
from ._trainer_hooks import SUPPORTED_TRL
from .callback import LanguageRouterCallback

__all__ = ["HEATMAP_NAMES", "ROUTER_STATE_NAME", "SUPPORTED_TRL", "LanguageRouterCallback"]
