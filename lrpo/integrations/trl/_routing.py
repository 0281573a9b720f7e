"""Routing a generation batch: the rows' contexts, one plan identical on every rank, and each
rollout's prompt rewritten for the language it is asked to answer in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lrpo.languages import DirectiveStyle, apply_directive
from lrpo.router import BaseRouter, RoutingContext, RoutingPlan

from ._ranks import gather_ranks

__all__ = ["PromptRouter", "run_languages"]


class PromptRouter:
    """Turns the rollouts' input dicts of one rank into routed ones.

    Every rank gathers the contexts of the whole generation batch (one small gather), routes
    its groups with the router's step and the global group index as key, so every rank computes
    the same plan, and rewrites its own slice. A rewritten row's ``requested_key`` holds the
    requested language and ``prompt_language_key`` the prompt's own; a rollout gets the
    directive iff the two differ. The options are those of ``LanguageRouterCallback``.
    """

    def __init__(
        self,
        router: BaseRouter,
        *,
        language_column: str,
        theme_column: str,
        region_column: str,
        theme_embedding_column: str | None,
        requested_key: str | None,
        prompt_language_key: str,
        directive: DirectiveStyle | str,
        tag_template: str,
    ) -> None:
        apply_directive("x", router.languages[0], directive, tag_template=tag_template)
        if theme_embedding_column is not None and router.config.theme_input != "embeddings":
            raise ValueError(
                f"theme_embedding_column={theme_embedding_column!r} needs a router that reads "
                f"theme embeddings, but its theme_input is {router.config.theme_input!r}; set "
                "RouterConfig(theme_input='embeddings', theme_anchors={theme: vector}) or drop "
                "theme_embedding_column"
            )
        self.router = router
        self.language_column = language_column
        self.theme_column = theme_column
        self.region_column = region_column
        self.theme_embedding_column = theme_embedding_column
        self.requested_key = requested_key or language_column
        self.prompt_language_key = prompt_language_key
        self.directive = DirectiveStyle(directive)
        self.tag_template = tag_template

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The dataset columns every routed row must have."""
        return (self.language_column, self.theme_embedding_column or self.theme_column)

    def route(
        self, inputs: list[dict], *, accelerator: Any, k: int, key_prefix: str | None = None
    ) -> tuple[list[dict], RoutingPlan]:
        """This rank's rows rewritten by the batch's plan, and the plan.

        Parameters
        ----------
        inputs : list of dict
            This rank's rollouts, K consecutive rows per prompt.
        accelerator : accelerate.Accelerator
            Gives the rank and gathers the other ranks' contexts.
        k : int
            Rollouts per prompt.
        key_prefix : str, optional
            None: route with the global group index as key (training). A string: route with
            keys ``f"{key_prefix}{i}"`` (evaluation, apart from the training keys).

        Returns
        -------
        rows : list of dict
            Copies of ``inputs`` with the requested and prompt languages and the rewritten
            prompts.
        plan : RoutingPlan
            The plan of the whole batch, over all ranks.
        """
        contexts = self._contexts(inputs)
        plan = self._plan(gather_ranks(accelerator, contexts), k, key_prefix)
        start = accelerator.process_index * len(inputs)
        languages = plan.languages.ravel()[start : start + len(inputs)].tolist()
        return self._rewrite_all(inputs, contexts, languages), plan

    def keep(self, inputs: list[dict]) -> list[dict]:
        """Copies of ``inputs`` that keep the prompt's language (unrouted evaluation).

        Parameters
        ----------
        inputs : list of dict
            This rank's rollouts.

        Returns
        -------
        list of dict
            The rows with the requested and prompt languages both the prompt's own.
        """
        contexts = self._contexts(inputs)
        return self._rewrite_all(inputs, contexts, [context.language for context in contexts])

    def _rewrite_all(
        self, inputs: list[dict], contexts: list[RoutingContext], languages: list[str]
    ) -> list[dict]:
        return [
            self._rewrite(row, context.language, language)
            for row, context, language in zip(inputs, contexts, languages, strict=True)
        ]

    def _contexts(self, rows: list[dict]) -> list[RoutingContext]:
        """One context per row; a row repeating the previous row's columns (the K rollouts of
        a prompt come in a row) reuses its context instead of building it again."""
        contexts: list[RoutingContext] = []
        previous: tuple | None = None
        for row in rows:
            values = self._context_values(row)
            if values != previous:
                previous, context = values, _context(values)
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

    def _rewrite(self, row: dict, home: str, language: str) -> dict:
        out = dict(row)
        out[self.prompt_language_key] = home
        out[self.requested_key] = language
        if language != home:
            out["prompt"] = apply_directive(
                row["prompt"], language, self.directive, tag_template=self.tag_template
            )
        return out


def run_languages(router: BaseRouter, datasets: Iterable[Any], column: str) -> list[str]:
    """The languages a run asks for: the router's, then the datasets' prompt languages (the
    K_on rollouts answer in them); a default language gate chooses among these."""
    languages = list(router.config.languages)
    for dataset in datasets:
        if column in (getattr(dataset, "column_names", None) or ()):
            languages += [code for code in dataset.unique(column) if isinstance(code, str)]
    return languages


def _context(values: tuple) -> RoutingContext:
    language, theme, region, embedding = values
    return RoutingContext.coerce(
        {"language": language, "theme": theme, "region": region, "theme_embedding": embedding}
    )


def _comparable(value: Any) -> Any:
    """A column value that ``==`` compares as a whole: lists, arrays, tensors become tuples."""
    return value if value is None or isinstance(value, str) else tuple(value)
