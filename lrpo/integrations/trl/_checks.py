"""Checks run by ``LanguageRouterCallback.attach``: fail at once, naming the fix."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["SUPPORTED_TRL", "check_trainer", "dataset_columns"]

#: TRL versions whose private names the callback was tested against (the ``trl`` extra pins it).
SUPPORTED_TRL = ">=1.0,<1.17"

# Private GRPOTrainer methods the callback wraps, with the parameters it relies on.
_WRAPPED = {
    "_generate_and_score_completions": ("inputs",),
    "_calculate_rewards": ("inputs", "prompts", "completions", "completion_ids_list"),
}


def trl_version() -> str:
    import trl

    return trl.__version__


def check_version(version: str) -> None:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    if Version(version) not in SpecifierSet(SUPPORTED_TRL):
        raise RuntimeError(
            f"lrpo's LanguageRouterCallback supports trl{SUPPORTED_TRL} (it wraps private "
            f"GRPOTrainer methods), but trl {version} is installed; install a supported "
            f'version: pip install "trl{SUPPORTED_TRL}"'
        )


def dataset_columns(dataset: Any) -> list[str] | None:
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


def check_trainer(
    trainer: Any, router: Any, *, required: tuple[str, ...], route_eval: bool
) -> None:
    """Every check between the trainer, its data and the router, in one place."""
    check_version(trl_version())
    for name, params in _WRAPPED.items():
        method = getattr(trainer, name, None)
        if method is None or not callable(method):
            raise RuntimeError(
                f"{type(trainer).__name__} has no method {name}; LanguageRouterCallback needs a "
                f"trl.GRPOTrainer (or a subclass) from trl{SUPPORTED_TRL}"
            )
        got = tuple(inspect.signature(method).parameters)
        if got != params:
            raise RuntimeError(
                f"{type(trainer).__name__}.{name} takes {got}, expected {params}: this TRL build "
                f"changed a private method lrpo wraps; install trl{SUPPORTED_TRL}"
            )
    config = router.config
    k, k_on = config.num_rollouts, config.num_on_policy
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
    datasets = {"train_dataset": trainer.train_dataset}
    if route_eval:
        evals = trainer.eval_dataset
        items = evals.items() if isinstance(evals, dict) else [("eval_dataset", evals)]
        datasets.update((f"eval_dataset[{k!r}]" if k != "eval_dataset" else k, v) for k, v in items)
    for label, dataset in datasets.items():
        columns = dataset_columns(dataset)
        if columns is None:
            continue
        missing = [name for name in required if name not in columns]
        if missing:
            raise ValueError(
                f"{label} lacks the column(s) {missing} that routing reads (it has {columns}); "
                "add them (e.g. ds.add_column) or pass language_column= / theme_column= to "
                "LanguageRouterCallback"
            )
