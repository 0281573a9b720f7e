"""The one place lrpo touches private ``GRPOTrainer`` API: checks of the names it relies on,
and the wrappers it installs on a trainer instance.

TRL 1.16 has no public hook that sees each rollout's input dict before generation or the
gathered rewards after scoring, so four methods are replaced *on the instance* (the class is
untouched):

* ``_generate_and_score_completions(inputs)``: the inputs go through ``before_generation``
  (which routes them and rewrites their prompts) and ``after_generation`` runs once scoring is
  done, whatever happened.
* ``_calculate_rewards(inputs, prompts, completions, completion_ids_list)``: its (B*K, n_funcs)
  tensor, gathered over every rank by TRL, goes to ``after_rewards``.
* ``log(logs)``: ``extend_logs(logs, mode)`` adds to the dict before TRL and the reporters see
  it; ``mode`` is ``"eval"`` for evaluation logs, ``"train"`` for step logs (the closing
  ``train_runtime`` summary gets nothing).
* ``train(resume_from_checkpoint=...)``: ``before_train`` sees the checkpoint being resumed.

In vLLM server mode TRL sends ``prompts[::K]`` with ``n=K``, which would drop the per-rollout
prompts: ``VLLMGeneration.generate`` is wrapped to send all B*K prompts with ``n=1`` while the
routed generation runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SUPPORTED_TRL", "Hooks", "check_trl", "install"]

#: TRL versions whose private names the callback was tested against (the ``trl`` extra pins it).
SUPPORTED_TRL = ">=1.0,<1.17"

# Private GRPOTrainer methods that are wrapped, with the parameters the wrappers pass on.
_WRAPPED = {
    "_generate_and_score_completions": ("inputs",),
    "_calculate_rewards": ("inputs", "prompts", "completions", "completion_ids_list"),
}
_VLLM_GENERATE = ("prompts", "images", "num_generations")
# Attribute that marks a trainer already wearing the wrappers.
_MARK = "_lrpo_hooks"


@dataclass(frozen=True)
class Hooks:
    """What runs inside the wrapped trainer methods (see the module docstring)."""

    before_generation: Callable[[list[dict]], list[dict]]
    after_generation: Callable[[], None]
    after_rewards: Callable[[Any], None]
    extend_logs: Callable[[dict[str, float], str], None]
    before_train: Callable[[Any], None]


def check_trl(trainer: Any) -> None:
    """Fail at once if the TRL build or the trainer lacks the private names the hooks use."""
    import trl

    _check_version(trl.__version__)
    name = type(trainer).__name__
    if getattr(trainer, _MARK, None) is not None:
        raise RuntimeError(
            f"this {name} already has a LanguageRouterCallback; build one callback per trainer"
        )
    for method_name, params in _WRAPPED.items():
        method = getattr(trainer, method_name, None)
        if method is None or not callable(method):
            raise RuntimeError(
                f"{name} has no method {method_name}; LanguageRouterCallback needs a "
                f"trl.GRPOTrainer (or a subclass) from trl{SUPPORTED_TRL}"
            )
        _check_params(f"{name}.{method_name}", method, params, exact=True)
    generation = _vllm_generation(trainer)
    if generation is not None:
        _check_params("VLLMGeneration.generate", generation.generate, _VLLM_GENERATE, exact=False)


def install(trainer: Any, hooks: Hooks) -> None:
    """Wrap the trainer's methods around ``hooks``; call :func:`check_trl` first."""
    generate_and_score = trainer._generate_and_score_completions
    calculate_rewards = trainer._calculate_rewards
    log, train = trainer.log, trainer.train
    per_rollout = False

    def _generate_and_score_completions(inputs):
        nonlocal per_rollout
        rows = hooks.before_generation(inputs)
        per_rollout = True
        try:
            return generate_and_score(rows)
        finally:
            per_rollout = False
            hooks.after_generation()

    def _calculate_rewards(inputs, prompts, completions, completion_ids_list):
        rewards = calculate_rewards(inputs, prompts, completions, completion_ids_list)
        hooks.after_rewards(rewards)
        return rewards

    @functools.wraps(log)
    def log_with_router(logs, *args, **kwargs):
        if any(key.startswith("eval_") for key in logs):
            hooks.extend_logs(logs, "eval")
        elif "train_runtime" not in logs:
            hooks.extend_logs(logs, "train")
        return log(logs, *args, **kwargs)

    @functools.wraps(train)
    def train_with_router(resume_from_checkpoint=None, *args, **kwargs):
        hooks.before_train(resume_from_checkpoint)
        return train(resume_from_checkpoint, *args, **kwargs)

    trainer._generate_and_score_completions = _generate_and_score_completions
    trainer._calculate_rewards = _calculate_rewards
    trainer.log, trainer.train = log_with_router, train_with_router
    generation = _vllm_generation(trainer)
    if generation is not None:
        generate = generation.generate

        def generate_per_rollout(prompts, images, num_generations, *args, **kwargs):
            if per_rollout and generation.mode == "server":
                num_generations = 1
            return generate(prompts, images, num_generations, *args, **kwargs)

        generation.generate = generate_per_rollout
    setattr(trainer, _MARK, hooks)


def _check_version(version: str) -> None:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    if Version(version) not in SpecifierSet(SUPPORTED_TRL):
        raise RuntimeError(
            f"lrpo's LanguageRouterCallback supports trl{SUPPORTED_TRL} (it wraps private "
            f"GRPOTrainer methods), but trl {version} is installed; install a supported "
            f'version: pip install "trl{SUPPORTED_TRL}"'
        )


def _check_params(label: str, method: Callable, params: tuple[str, ...], *, exact: bool) -> None:
    got = tuple(inspect.signature(method).parameters)
    if (got if exact else got[: len(params)]) != params:
        expected = params if exact else (*params, "...")
        raise RuntimeError(
            f"{label} takes {got}, expected {expected}: this TRL build changed a private "
            f"method lrpo wraps; install trl{SUPPORTED_TRL}"
        )


def _vllm_generation(trainer: Any) -> Any:
    """The trainer's ``VLLMGeneration`` when it generates with vLLM, else None."""
    return (
        getattr(trainer, "vllm_generation", None) if getattr(trainer, "use_vllm", False) else None
    )
