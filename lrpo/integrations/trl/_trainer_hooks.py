"""The one place lrpo touches private ``GRPOTrainer`` API, and the checks run when the callback
is built (each fails at once, naming the fix).

TRL 1.16 has no public hook that sees each rollout's input dict before generation or the
gathered rewards after scoring, so ``_generate_and_score_completions``, ``_calculate_rewards``,
``log`` and ``train`` are wrapped *on the instance* (:class:`Hooks`). In vLLM server mode TRL
sends ``prompts[::K]`` with ``n=K``, which would drop the per-rollout prompts:
``VLLMGeneration.generate`` is wrapped to send all B*K prompts with ``n=1`` while the routed
generation runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SUPPORTED_TRL", "Hooks", "check_trainer", "check_trl", "install", "routed_datasets"]

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
    """What runs in the wrapped methods: ``before_generation`` rewrites the inputs,
    ``after_generation`` runs once scoring is done, ``after_rewards`` gets the rewards tensor,
    ``extend_logs(logs, "eval" | "train")`` adds to the logs (not the ``train_runtime`` summary),
    ``before_train`` gets ``resume_from_checkpoint``."""

    before_generation: Callable[[list[dict]], list[dict]]
    after_generation: Callable[[], None]
    after_rewards: Callable[[Any], None]
    extend_logs: Callable[[dict[str, float], str], None]
    before_train: Callable[[Any], None]


def check_trl(trainer: Any) -> None:
    """Fail at once if the TRL build or the trainer lacks the private names the hooks use."""
    import trl
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    if Version(trl.__version__) not in SpecifierSet(SUPPORTED_TRL):
        raise RuntimeError(
            f"lrpo's LanguageRouterCallback supports trl{SUPPORTED_TRL} (it wraps private "
            f"GRPOTrainer methods), but trl {trl.__version__} is installed; install a supported "
            f'version: pip install "trl{SUPPORTED_TRL}"'
        )
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
        got = _visible_parameters(trainer, method_name)
        _check_params(f"{name}.{method_name}", got, params, exact=True)
    generation = _vllm_generation(trainer)
    if generation is not None:
        got = tuple(inspect.signature(generation.generate).parameters)
        _check_params("VLLMGeneration.generate", got, _VLLM_GENERATE, exact=False)


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


def _visible_parameters(trainer: Any, name: str) -> tuple[str, ...]:
    """The named parameters of the trainer's method ``name``, seen through wrappers.

    A wrapper without ``functools.wraps`` hides them behind ``(*args, **kwargs)``: Unsloth
    wraps ``_generate_and_score_completions`` so on its trainer class, and passes every
    argument on to the definition it wraps. That definition is the first one up the class
    hierarchy that names its parameters.
    """
    owners = [cls for cls in type(trainer).__mro__ if name in vars(cls)]
    methods = [getattr(trainer, name)] + [vars(cls)[name].__get__(trainer) for cls in owners]
    for method in methods:
        named = tuple(
            p.name
            for p in inspect.signature(method).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )
        if named:
            return named
    wrapper = owners[0].__name__ if owners else type(trainer).__name__
    raise RuntimeError(
        f"{wrapper}.{name} takes only (*args, **kwargs) and no class it derives from defines "
        f"{name} with named parameters, so lrpo cannot check the private method it wraps; "
        f"wrap it with functools.wraps, or use trl.GRPOTrainer from trl{SUPPORTED_TRL}"
    )


def _check_params(
    label: str, got: tuple[str, ...], params: tuple[str, ...], *, exact: bool
) -> None:
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


def routed_datasets(trainer: Any, *, route_eval: bool) -> dict[str, Any]:
    """The trainer's datasets whose rows are routed, by the name an error message gives them."""
    datasets = {"train_dataset": trainer.train_dataset}
    if route_eval:
        evals = trainer.eval_dataset
        items = evals.items() if isinstance(evals, dict) else [("eval_dataset", evals)]
        datasets.update((k if k == "eval_dataset" else f"eval_dataset[{k!r}]", v) for k, v in items)
    return datasets


def check_trainer(
    trainer: Any,
    router: Any,
    *,
    required: tuple[str, ...],
    route_eval: bool,
    learn_from: Sequence[str] | None,
) -> None:
    """Every check between the trainer, its data, its reward functions and the router."""
    k, k_on = router.config.num_rollouts, router.config.num_on_policy
    if trainer.num_generations != k:
        raise ValueError(
            f"GRPOConfig.num_generations={trainer.num_generations} but the router plans "
            f"num_rollouts={k} rollouts per prompt; set both to the same K"
        )
    if k_on >= k:
        raise ValueError(
            f"the router keeps num_on_policy={k_on} of num_generations={k} rollouts in the "
            "prompt's language, so it routes none; set num_on_policy < num_generations"
        )
    if route_eval and trainer.num_generations_eval != k:
        raise ValueError(
            f"route_eval=True needs num_generations_eval == num_rollouts == {k}, got "
            f"{trainer.num_generations_eval}; set GRPOConfig.num_generations_eval={k}"
        )
    if getattr(trainer.args, "remove_unused_columns", False):
        raise ValueError(
            "GRPOConfig.remove_unused_columns=True drops the language/theme columns before they "
            "reach the callback; set remove_unused_columns=False (the GRPO default)"
        )
    for label, dataset in routed_datasets(trainer, route_eval=route_eval).items():
        columns = _dataset_columns(dataset)
        missing = [name for name in required if columns is not None and name not in columns]
        if missing:
            raise ValueError(
                f"{label} lacks the column(s) {missing} that routing reads (it has {columns}); "
                "add them (e.g. ds.add_column) or pass language_column= / theme_column= to "
                "LanguageRouterCallback"
            )
    names = list(trainer.reward_func_names)
    if learn_from is None:
        return
    if isinstance(learn_from, str) or not learn_from:
        raise ValueError(
            f"learn_from={learn_from!r}: pass a list of reward function names (e.g. "
            f"learn_from={names[:1]!r}), or None to learn from all of them"
        )
    unknown = [name for name in learn_from if name not in names]
    if unknown:
        raise ValueError(
            f"learn_from names {unknown}, which are not among the trainer's reward functions "
            f"(trainer.reward_func_names: {names}); pick from those names"
        )


def _dataset_columns(dataset: Any) -> list[str] | None:
    """Column names of a datasets.Dataset / IterableDataset, a list of dicts, or None if unknown."""
    if dataset is None:
        return None
    names = getattr(dataset, "column_names", None)
    if isinstance(names, list):
        return names
    if isinstance(names, dict):  # DatasetDict
        raise TypeError(
            f"got a DatasetDict with splits {list(names)}; pass one split (e.g. ds['train'])"
        )
    try:
        first = dataset[0]
    except Exception:  # an iterable dataset: columns unknown
        return None
    return list(first) if isinstance(first, dict) else None
