"""The synthetic policy of the closed-loop benchmark: which real text each rollout is.

A prompt is an item (with a theme) and a prompt language; its reference is the item's text in
that language and its prompt text is another item's (a fixed sibling of the same domain: the
question a cheap answer can echo). A rollout asked in language ``l`` is, with probability:

* ``echo_share``: the prompt's text, verbatim (a cheap answer; kind ``echo``);
* else ``english_share`` (when ``l`` is not English): an answer drawn as below but written in
  English whatever was asked (kind ``english``; the gate should zero it);
* else the item's text in ``l`` with probability ``p[theme, l]`` (kind ``correct``), otherwise
  a wrong item in ``l``: with probability ``hard_share`` the most similar other item there
  (cosine of the embeddings; kind ``hard``), else a uniformly random other item (``random``).

``p`` is a fixed, seeded table in which each theme has ``strong`` languages that are truly
better. The true value of asking ``l`` is the chance of a correct answer in ``l``:
``quality = (1 - echo_share) (1 - english_share [l != en]) p``; the oracle asks the best
language of the theme, the uniform router the mean. Every draw is seeded by (seed, step)
only: all routers see the same prompts and the same uniforms, and differ only by the
languages they chose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KINDS", "Batch", "World", "make_world"]

#: Rollout kinds, in the order of their integer codes.
KINDS = ("correct", "hard", "random", "english", "echo")
CORRECT, HARD, RANDOM, ENGLISH, ECHO = range(len(KINDS))
_PROMPTS, _ROLLOUTS = 0, 1


@dataclass(frozen=True)
class Batch:
    """One step's prompts: item, theme and prompt language (index) of each."""

    item: np.ndarray  # (B,)
    theme: np.ndarray  # (B,)
    language: np.ndarray  # (B,)


@dataclass(frozen=True)
class World:
    """Everything the policy needs, as arrays (see the module notes)."""

    languages: tuple[str, ...]
    themes: tuple[str, ...]
    p: np.ndarray  # (T, L) chance of a correct answer when asked l, before echo and English
    quality: np.ndarray  # (T, L) true value of asking l
    item_theme: np.ndarray  # (N,)
    prompt_item: np.ndarray  # (N,) the item whose text is the prompt
    hard: np.ndarray  # (N, L) most similar other item in language l
    english: int  # index of "en" in languages, -1 when absent
    hard_share: float
    english_share: float
    echo_share: float

    @property
    def num_items(self) -> int:
        return len(self.item_theme)

    def prompts(self, seed: int, step: int, size: int) -> Batch:
        """``size`` distinct items (as far as there are) with uniform prompt languages."""
        rng = np.random.default_rng([seed, step, _PROMPTS])
        item = rng.choice(self.num_items, size, replace=size > self.num_items)
        language = rng.integers(len(self.languages), size=size)
        return Batch(item, self.item_theme[item], language)

    def uniforms(self, seed: int, step: int, shape: tuple[int, int]) -> np.ndarray:
        """The ``(4, B, K)`` uniforms of a step's rollouts (shared by every router)."""
        return np.random.default_rng([seed, step, _ROLLOUTS]).random((4, *shape))

    def rollouts(
        self, batch: Batch, arms: np.ndarray, u: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(item, language, kind)`` of each rollout ``(B, K)`` asked in language ``arms``."""
        item = batch.item[:, None]
        echo = u[0] < self.echo_share
        english = ~echo & (u[0] < self.echo_share + self.english_share) & (arms != self.english)
        language = np.where(echo, batch.language[:, None], np.where(english, self.english, arms))
        correct = u[1] < self.p[batch.theme[:, None], arms]
        hard = ~correct & (u[2] < self.hard_share)
        other = (item + 1 + (u[3] * (self.num_items - 1)).astype(int)) % self.num_items
        chosen = np.where(correct, item, np.where(hard, self.hard[item, language], other))
        chosen = np.where(echo, self.prompt_item[item], chosen)
        kind = np.select([echo, english, correct, hard], [ECHO, ENGLISH, CORRECT, HARD], RANDOM)
        return chosen, language, kind

    def oracle(self, batch: Batch) -> np.ndarray:
        """Best true value ``(B,)`` any language reaches for each prompt."""
        return self.quality[batch.theme].max(axis=1)

    def uniform(self, batch: Batch) -> np.ndarray:
        """Expected true value ``(B,)`` of a uniformly drawn language."""
        return self.quality[batch.theme].mean(axis=1)


def _quality_table(
    num_themes: int, num_languages: int, rng: np.random.Generator, strong: int
) -> np.ndarray:
    """Base 0.35 +- 0.08 per (theme, language); ``strong`` languages per theme get +0.35."""
    p = 0.35 + 0.08 * rng.standard_normal((num_themes, num_languages))
    order = rng.permutation(num_languages)  # spread the strong languages over the themes
    for t in range(num_themes):
        picks = order[(t * strong + np.arange(strong)) % num_languages]
        p[t, picks] += 0.35 - 0.1 * np.arange(strong)  # a best and a runner-up
    return np.clip(p, 0.05, 0.95)


def make_world(
    languages: tuple[str, ...],
    domains: np.ndarray,
    vectors: np.ndarray,
    *,
    num_themes: int,
    seed: int,
    strong: int = 2,
    hard_share: float = 0.5,
    english_share: float = 0.05,
    echo_share: float = 0.05,
) -> World:
    """A world for items with catalogue ``domains`` ``(N,)`` and unit ``vectors`` ``(N, L, d)``.

    Items are dealt to ``num_themes`` themes at random (balanced); each item's prompt is
    another item of its domain (any other item when its domain has no other).
    """
    rng = np.random.default_rng(seed)
    n = len(domains)
    if n < 2:
        raise ValueError(f"need at least 2 items, got {n}")
    themes = tuple(f"theme-{t}" for t in range(num_themes))
    item_theme = rng.permutation(np.arange(n) % num_themes)
    p = _quality_table(num_themes, len(languages), rng, strong)
    english = languages.index("en") if "en" in languages else -1
    asked_english = np.arange(len(languages)) == english
    quality = (1 - echo_share) * (1 - english_share * ~asked_english) * p
    prompt_item = np.empty(n, dtype=int)
    for i in range(n):
        same = np.flatnonzero((domains == domains[i]) & (np.arange(n) != i))
        pool = same if same.size else np.flatnonzero(np.arange(n) != i)
        prompt_item[i] = rng.choice(pool)
    hard = np.empty((n, len(languages)), dtype=int)
    for j in range(len(languages)):
        similarity = vectors[:, j] @ vectors[:, j].T
        np.fill_diagonal(similarity, -np.inf)
        hard[:, j] = similarity.argmax(axis=1)
    return World(
        languages,
        themes,
        p,
        quality,
        item_theme,
        prompt_item,
        hard,
        english,
        hard_share,
        english_share,
        echo_share,
    )
