"""Checks between a ``GRPOTrainer``, its data and the router, all run when the callback is built:
each fails at once, naming the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["check_trainer", "dataset_columns", "routed_datasets"]


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
    for label, dataset in routed_datasets(trainer, route_eval=route_eval).items():
        columns = dataset_columns(dataset)
        missing = [name for name in required if columns is not None and name not in columns]
        if missing:
            raise ValueError(
                f"{label} lacks the column(s) {missing} that routing reads (it has {columns}); "
                "add them (e.g. ds.add_column) or pass language_column= / theme_column= to "
                "LanguageRouterCallback"
            )
    _check_learn_from(list(trainer.reward_func_names), learn_from)


def _check_learn_from(names: list[str], learn_from: Sequence[str] | None) -> None:
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
