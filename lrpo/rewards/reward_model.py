"""`RewardModelScorer`: a transformers sequence-classification reward model as an lrpo scorer.

Seed 004 aligns a model in one language with a reward model trained in another; this module
scores ``(prompt, completion)`` pairs in any language with any
``AutoModelForSequenceClassification`` that has one output (``num_labels=1``), batched, on CPU
or GPU. Its raw scores have a language-dependent level: fit a
:class:`~lrpo.rewards.ScoreCalibrator` on a sample of ``(score, language)`` to compare them
across languages (``lrpo calibrate-scores``); :func:`lrpo.rewards.best_of_n` ranks by it, and a
:class:`~lrpo.rewards.SemanticReward` built with this scorer and the calibrator is the GRPO
reward of routed rollouts (``recipes/reward_model/``).

**What the model reads.** ``input_format="chat"``: the pair as a user/assistant conversation
through ``tokenizer.apply_chat_template`` (no generation prompt), tokenised without adding
special tokens again (the template writes them), as chat reward models are trained.
``"pair"``: ``tokenizer(prompt, completion)``, the text pair of cross-encoder reward models
(BERT, DeBERTa). ``"auto"`` (default): ``"chat"`` when the tokenizer has a chat template,
``"pair"`` when it has none but has a separator token (it was built for text pairs), else a
``ValueError`` at construction: a decoder tokenizer without a template has no known format,
and guessing one would give scores that look valid and mean nothing.

**Bad input never crashes.** Lone surrogates (unencodable) become U+FFFD (counted
``repaired``); a text past ``max_length`` tokens is truncated on the right (counted
``truncated``: the model then scores the cut text, without the end-of-turn token); an item
that is not a str (in the chat format: nor a chat message list) gives NaN, counted
``invalid``, and so does a non-finite model output, counted ``nan``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lrpo.metrics import MetricSums

from .cleaning import CHARS_PER_TOKEN, utf8_safe
from .model_scores import SUMS, batched_scores, default_device, score_metrics

__all__ = ["RewardModelScorer", "reward_model_metrics"]

InputFormat = Literal["auto", "chat", "pair"]

#: Characters kept per token of ``max_length`` before tokenising: tokenising a megabyte takes
#: seconds, and natural text has far fewer characters per token than this.
#: A tokenizer's ``model_max_length`` above this is the "no limit" sentinel.
_NO_LIMIT = 10**9


class RewardModelScorer:
    """Scores of ``(prompt, completion)`` pairs from a sequence-classification reward model.

    Parameters
    ----------
    model : transformers PreTrainedModel
        A ``*ForSequenceClassification`` with ``num_labels=1``; put in eval mode and moved to
        ``device``. Without ``config.pad_token_id`` it gets the tokenizer's pad token (else
        its end-of-sequence token), as TRL's reward trainer sets it.
    tokenizer : transformers PreTrainedTokenizerBase
        The model's tokenizer (padding is always on the right, so positions do not shift).
    input_format : {"auto", "chat", "pair"}, default "auto"
        See the module notes; the resolved format is ``input_format_``.
    batch_size : int, default 8
        Pairs per forward pass (sorted by length first, so a batch pads little).
    device : str or torch.device, optional
        Where to run; None keeps the model where it is.
    max_length : int, optional
        Token limit per pair; default the tokenizer's ``model_max_length`` or the model's
        ``max_position_embeddings``, whichever is smaller and set.

    Examples
    --------
    >>> scorer = RewardModelScorer.from_pretrained("Skywork/Skywork-Reward-V2-Qwen3-0.6B",
    ...                                            device="cuda")  # doctest: +SKIP
    >>> scores = scorer.score(["2+2?", "2+2?"], ["Vier.", "Cinq."])  # doctest: +SKIP
    >>> scores.shape, scorer.metric_sums().metrics()["reward_model/nan_rate"]  # doctest: +SKIP
    ((2,), 0.0)
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        input_format: InputFormat = "auto",
        batch_size: int = 8,
        device: Any = None,
        max_length: int | None = None,
    ) -> None:
        if getattr(model.config, "num_labels", None) != 1:
            raise ValueError(
                f"a reward model has one output (num_labels=1), got "
                f"num_labels={getattr(model.config, 'num_labels', None)}: load a reward model"
            )
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.input_format_ = _resolve_format(input_format, tokenizer)
        self.max_length = _max_length(model, tokenizer) if max_length is None else max_length
        if not (isinstance(self.max_length, int) and self.max_length >= 1):
            raise ValueError(f"max_length must be an int >= 1, got {self.max_length!r}")
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is None:
                raise ValueError("the tokenizer has no pad and no end-of-sequence token: set one")
            tokenizer.pad_token = tokenizer.eos_token
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        self.model = model.eval() if device is None else model.to(device).eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.__name__ = "reward_model"  # TRL names reward functions by __name__
        self._counts = dict.fromkeys(SUMS, 0.0)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        *,
        device: Any = "auto",
        dtype: str = "auto",
        **options: Any,
    ) -> RewardModelScorer:
        """Load a reward model and its tokenizer by hub name or local path.

        ``device="auto"``: the first GPU when there is one, else the CPU; ``dtype`` as
        transformers reads it (``"auto"``: the checkpoint's); ``options`` as the constructor's.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if device == "auto":
            device = default_device()
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path, dtype=dtype)
        return cls(model, tokenizer, device=device, **options)

    def __repr__(self) -> str:
        return (
            f"RewardModelScorer({type(self.model).__name__}, input_format="
            f"{self.input_format_!r}, batch_size={self.batch_size}, max_length={self.max_length})"
        )

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        references: Sequence[Any] | None = None,
        **_: Any,
    ) -> list[float]:
        """TRL's reward-function signature (other columns, the language too, are ignored: the
        raw score does not depend on them); NaN where :meth:`score` gives NaN.

        It is also the ``scorer(prompts, completions, references)`` of a
        :class:`~lrpo.rewards.SemanticReward` (the references are not read): with a fitted
        ``score_calibrator`` that reward calibrates the raw score per answer language and
        gates it, so one reward model scores routed rollouts in several languages.
        """
        if prompts is None or completions is None:
            raise TypeError("prompts and completions are required")
        return self.score(prompts, completions).tolist()

    def score(self, prompts: Sequence[Any], completions: Sequence[Any]) -> np.ndarray:
        """The raw reward of each pair.

        Parameters
        ----------
        prompts, completions : sequence of str or of chat message lists, shape (n,)

        Returns
        -------
        ndarray of float64, shape (n,)
            NaN for an invalid item or a non-finite model output; added to the counts.
        """
        if isinstance(prompts, str) or isinstance(completions, str):
            raise TypeError("prompts and completions must be sequences, got a str")
        prompts, completions = list(prompts), list(completions)
        if len(prompts) != len(completions):
            raise ValueError(
                f"got {len(prompts)} prompts and {len(completions)} completions: one each per pair"
            )
        encoded = [self._encode(p, c) for p, c in zip(prompts, completions, strict=True)]
        return batched_scores(
            encoded,
            self._forward,
            self.batch_size,
            lambda item: len(item["input_ids"]),
            self._counts,
        )

    def _encode(self, prompt: Any, completion: Any) -> dict[str, list[int]] | None:
        """The model inputs of one pair (token ids and, for a pair, token types) in the model's
        format, truncated; None for an invalid item."""
        chat = self.input_format_ == "chat"
        messages = _conversation(prompt, completion, chat_lists=chat)
        if messages is None:
            return None
        originals = [m["content"] for m in messages]
        repaired = [utf8_safe(text) for text in originals]
        self._counts["repaired"] += any(
            r is not t for r, t in zip(repaired, originals, strict=True)
        )
        limit = self.max_length * CHARS_PER_TOKEN
        cut = any(len(text) > limit for text in repaired)
        contents = [text[:limit] for text in repaired]
        if chat:
            messages = [{**m, "content": c} for m, c in zip(messages, contents, strict=True)]
            text = self.tokenizer.apply_chat_template(messages, tokenize=False)
            encoded = self.tokenizer(text, add_special_tokens=False)
        else:
            encoded = self.tokenizer(*contents)
            if len(encoded["input_ids"]) > self.max_length:
                options = {"truncation": "longest_first", "max_length": self.max_length}
                encoded = self.tokenizer(*contents, **options)
        if cut or len(encoded["input_ids"]) > self.max_length:
            self._counts["truncated"] += 1
        return {key: list(values[: self.max_length]) for key, values in encoded.items()}

    def _forward(self, batch: list[dict[str, list[int]]]) -> np.ndarray:
        import torch

        padded = self.tokenizer.pad(batch, padding=True, padding_side="right", return_tensors="pt")
        device = self.model.device
        with torch.inference_mode():
            logits = self.model(**{key: value.to(device) for key, value in padded.items()}).logits
        return logits[:, 0].float().cpu().numpy().astype(np.float64)

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Items, scored items and their score sum, and the ``nan``, ``invalid``, ``truncated``
        and ``repaired`` counts since the last reset (``reset=True``: start a new window);
        :func:`reward_model_metrics` derives the rates."""
        sums = MetricSums(dict(self._counts), reward_model_metrics)
        if reset:
            self._counts = dict.fromkeys(SUMS, 0.0)
        return sums


def reward_model_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of :meth:`RewardModelScorer.metric_sums`: ``reward_model/items``,
    the mean finite score and the rate of each count over the items (NaN before any)."""
    return score_metrics("reward_model", sums)


def _resolve_format(input_format: str, tokenizer: Any) -> Literal["chat", "pair"]:
    if input_format not in ("auto", "chat", "pair"):
        raise ValueError(f"input_format must be 'auto', 'chat' or 'pair', got {input_format!r}")
    has_template = getattr(tokenizer, "chat_template", None) is not None
    if input_format == "chat" and not has_template:
        raise ValueError(
            "input_format='chat' needs a tokenizer with a chat template: set "
            "tokenizer.chat_template, or use input_format='pair' for a cross-encoder"
        )
    if input_format != "auto":
        return input_format  # type: ignore[return-value]
    if has_template:
        return "chat"
    if getattr(tokenizer, "sep_token", None) is not None:
        return "pair"
    raise ValueError(
        f"{type(tokenizer).__name__} has no chat template and no separator token, so the "
        "format the reward model was trained on is unknown: set tokenizer.chat_template to "
        "its template, or pass input_format='pair' to score tokenizer(prompt, completion)"
    )


def _max_length(model: Any, tokenizer: Any) -> int:
    limits = [getattr(model.config, "max_position_embeddings", None)]
    limits.append(getattr(tokenizer, "model_max_length", None))
    limits = [int(n) for n in limits if isinstance(n, int | float) and 1 <= n < _NO_LIMIT]
    if not limits:
        raise ValueError("neither the model nor the tokenizer sets a length limit: give max_length")
    return min(limits)


def _is_chat(item: Any) -> bool:
    """A list of ``{"role": str, "content": str}`` messages (TRL's conversational format)."""
    return isinstance(item, list | tuple) and all(
        isinstance(m, Mapping)
        and isinstance(m.get("role"), str)
        and isinstance(m.get("content"), str)
        for m in item
    )


def _conversation(prompt: Any, completion: Any, *, chat_lists: bool) -> list[dict] | None:
    """The turns of one pair: a str prompt is the user turn, a str completion the assistant's;
    with ``chat_lists``, message lists are taken as they are. None for anything else."""
    turns = []
    for item, role in ((prompt, "user"), (completion, "assistant")):
        if isinstance(item, str):
            turns.append({"role": role, "content": item})
        elif chat_lists and _is_chat(item):
            turns.extend(dict(m) for m in item)
        else:
            return None
    return turns
