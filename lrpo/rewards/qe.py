"""`MetricXScorer`: MetricX-24 quality estimation (no reference) through transformers.

WALAR's reward (seed 003) starts from ``-MetricX_QE(source, hypothesis)``. MetricX-24 models
(``google/metricx-24-hybrid-{large,xl,xxl}-v2p6``, ``-bfloat16`` variants; tokenizer
``google/mt5-xl``) are mT5 encoder-decoders fine-tuned to regress an MQM-like error score:
**0 is best, 25 worst**.

**Verified** against the MetricX repository (``metricx24/predict.py`` and the regression model
class) and its README:

- QE input text: ``"source: {source} candidate: {hypothesis}"`` (``predict.py --qe``: no
  ``reference:`` part, although the README speaks of an empty reference), tokenised with
  truncation at ``max_length`` (MetricX-24 was trained on 1536 tokens), then the final
  end-of-sequence token is dropped.
- Read-out: one decoder step from token 0 (mT5's decoder start); the score is the logit of
  vocabulary id 250089 (``<extra_id_10>``) at that step, clipped to [0, 25].
- transformers 5.24 loads a checkpoint whose ``lm_head`` differs from its embeddings without
  tying them, although its ``MT5Config`` forces ``tie_word_embeddings``.

**Assumed** (not checked against a real checkpoint): the MetricX-24 checkpoints load into
``MT5ForConditionalGeneration`` (their weights are named ``shared``, ``encoder``, ``decoder``,
``lm_head``, as in the MetricX class), and their configs serialise ``tie_word_embeddings=False``,
so the MetricX class does not rescale the decoder output. The read-out here therefore never
rescales, whatever the installed transformers does with that flag, and reads the one
``lm_head`` row it needs instead of projecting onto the whole 250k vocabulary.

**Bad input never crashes** (as :class:`~lrpo.rewards.RewardModelScorer`): lone surrogates become
U+FFFD (counted ``repaired``), an input past ``max_length`` tokens is cut on the right, so the
end of the hypothesis goes first (counted ``truncated``), an item that is not a ``str`` gives NaN
(``invalid``), and so does a non-finite model output (``nan``).

COMET (xCOMET, WALAR's other QE choice) is not built: ``unbabel-comet`` is not installed in
lrpo's environment and pins ``transformers<5`` and ``numpy<2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrpo.metrics import MetricSums

from .cleaning import CHARS_PER_TOKEN, utf8_safe
from .copies import message_text
from .model_scores import SUMS, batched_scores, default_device, score_metrics

__all__ = ["METRICX_SCORE_TOKEN", "MetricXScorer", "qe_metrics"]

#: Vocabulary id whose first-step logit is MetricX's score: ``<extra_id_10>`` of mT5.
METRICX_SCORE_TOKEN = 250089
#: MetricX's score range (0: no error); scores are clipped to it, as the MetricX model does.
_SCORE_RANGE = (0.0, 25.0)


class MetricXScorer:
    """MetricX-24 QE scores of ``(source, hypothesis)`` pairs, batched, on CPU or GPU.

    Parameters
    ----------
    model : transformers MT5ForConditionalGeneration
        A MetricX checkpoint (any model with ``encoder``, ``decoder`` and ``lm_head`` as mT5's);
        put in eval mode and moved to ``device``.
    tokenizer : transformers PreTrainedTokenizerBase
        mT5's tokenizer (``google/mt5-xl``); padding is on the right.
    batch_size : int, default 8
        Pairs per forward pass (sorted by length first, so a batch pads little).
    device : str or torch.device, optional
        Where to run; None keeps the model where it is.
    max_length : int, default 1536
        Token limit of the input text (MetricX-24's training length), its end-of-sequence
        token included before it is dropped.
    score_token : int, default :data:`METRICX_SCORE_TOKEN`
        Vocabulary id whose logit is the score.

    Examples
    --------
    >>> qe = MetricXScorer.from_pretrained("google/metricx-24-hybrid-large-v2p6",
    ...                                    device="cuda")  # doctest: +SKIP
    >>> scores = qe.score(["The cat sleeps."], ["Die Katze schläft."])  # doctest: +SKIP
    >>> scores.shape, bool(0.0 <= scores[0] <= 25.0)  # doctest: +SKIP
    ((1,), True)
    >>> qe.metric_sums().metrics()["qe/nan_rate"]  # doctest: +SKIP
    0.0
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 8,
        device: Any = None,
        max_length: int = 1536,
        score_token: int = METRICX_SCORE_TOKEN,
    ) -> None:
        missing = [name for name in ("encoder", "decoder", "lm_head") if not hasattr(model, name)]
        if missing:
            raise TypeError(
                f"{type(model).__name__} has no {missing}: load the MetricX checkpoint with "
                "transformers.MT5ForConditionalGeneration"
            )
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if not (isinstance(max_length, int) and max_length >= 2):
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        vocabulary = model.lm_head.weight.shape[0]
        if not (isinstance(score_token, int) and 0 <= score_token < vocabulary):
            raise ValueError(
                f"score_token must be a vocabulary id below {vocabulary}, got {score_token!r}: "
                f"MetricX reads {METRICX_SCORE_TOKEN} (<extra_id_10>) of mT5's vocabulary"
            )
        if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer needs a pad and an end-of-sequence token (mT5's has)")
        self.model = model.eval() if device is None else model.to(device).eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.score_token = score_token
        start = getattr(model.config, "decoder_start_token_id", None)
        self._start_token = 0 if start is None else start  # mT5's (and MetricX's): 0
        self._counts = dict.fromkeys(SUMS, 0.0)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path = "google/metricx-24-hybrid-large-v2p6",
        *,
        tokenizer: str | Path = "google/mt5-xl",
        device: Any = "auto",
        dtype: str = "auto",
        **options: Any,
    ) -> MetricXScorer:
        """Load a MetricX checkpoint and the mT5 tokenizer by hub name or local path.

        ``device="auto"``: the first GPU when there is one, else the CPU; ``dtype`` as
        transformers reads it (``"auto"``: the checkpoint's); ``options`` as the constructor's.
        """
        from transformers import AutoTokenizer, MT5ForConditionalGeneration

        if device == "auto":
            device = default_device()
        try:
            loaded_tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            model = MT5ForConditionalGeneration.from_pretrained(name_or_path, dtype=dtype)
        except (OSError, ValueError) as error:
            raise OSError(
                f"could not load MetricX {str(name_or_path)!r} with tokenizer {str(tokenizer)!r} "
                f"({error}); give local directories, or pass a loaded model and tokenizer to "
                "MetricXScorer(model, tokenizer)"
            ) from error
        return cls(model, loaded_tokenizer, device=device, **options)

    def __repr__(self) -> str:
        return (
            f"MetricXScorer({type(self.model).__name__}, batch_size={self.batch_size}, "
            f"max_length={self.max_length}, score_token={self.score_token})"
        )

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        source: Sequence[Any] | None = None,
        **columns: Any,
    ) -> list[float]:
        """TRL's reward-function shape, for best-of-n and TRL: ``-QE`` (higher is better, 0 at
        best) of each completion against its ``source`` column, or its prompt without one."""
        sources = prompts if source is None else source
        texts = [message_text(c) for c in completions]
        return (-self.score([message_text(x, ("user",)) for x in sources], texts)).tolist()

    def score(self, sources: Sequence[Any], hypotheses: Sequence[Any]) -> np.ndarray:
        """The MetricX QE score (0 best, 25 worst) of each pair.

        Parameters
        ----------
        sources, hypotheses : sequence of str, shape (n,)

        Returns
        -------
        ndarray of float64, shape (n,)
            NaN for an item that is not a ``str`` or a non-finite model output; added to the
            counts (:meth:`metric_sums`).

        Raises
        ------
        TypeError
            A bare ``str`` instead of a sequence.
        ValueError
            Not one hypothesis per source.
        """
        if isinstance(sources, str) or isinstance(hypotheses, str):
            raise TypeError("sources and hypotheses must be sequences of str, got a str")
        sources, hypotheses = list(sources), list(hypotheses)
        if len(sources) != len(hypotheses):
            raise ValueError(
                f"got {len(sources)} sources and {len(hypotheses)} hypotheses: one each per pair"
            )
        encoded = [self._encode(s, h) for s, h in zip(sources, hypotheses, strict=True)]
        return batched_scores(encoded, self._forward, self.batch_size, len, self._counts)

    def _encode(self, source: Any, hypothesis: Any) -> list[int] | None:
        """Token ids of MetricX's QE input, truncated, without the end-of-sequence token."""
        if not (isinstance(source, str) and isinstance(hypothesis, str)):
            return None
        text = f"source: {source} candidate: {hypothesis}"
        repaired = utf8_safe(text)
        self._counts["repaired"] += repaired is not text
        limit = self.max_length * CHARS_PER_TOKEN
        ids = list(self.tokenizer(repaired[:limit])["input_ids"])
        self._counts["truncated"] += len(repaired) > limit or len(ids) > self.max_length
        if ids and ids[-1] == self.tokenizer.eos_token_id:
            ids.pop()  # MetricX drops it: its models were trained without
        # What MetricX feeds: the first max_length tokens, end-of-sequence included, less that.
        return ids[: self.max_length - 1]

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Scores of one padded batch: the score token's logit after one decoder step."""
        import torch

        model, device = self.model, self.model.lm_head.weight.device
        padded = self.tokenizer.pad(
            {"input_ids": batch}, padding=True, padding_side="right", return_tensors="pt"
        )
        ids, mask = padded["input_ids"].to(device), padded["attention_mask"].to(device)
        start = torch.full((len(batch), 1), self._start_token, dtype=torch.long, device=device)
        with torch.inference_mode():
            encoded = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            decoded = model.decoder(
                input_ids=start,
                encoder_hidden_states=encoded,
                encoder_attention_mask=mask,
                use_cache=False,
            ).last_hidden_state
            logit = decoded[:, 0] @ model.lm_head.weight[self.score_token]
        scores = logit.float().cpu().numpy().astype(np.float64)
        return np.clip(scores, *_SCORE_RANGE)  # NaN stays NaN

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """Items, scored items and their score sum, and the ``nan``, ``invalid``, ``truncated``
        and ``repaired`` counts since the last reset (``reset=True``: start a new window);
        :func:`qe_metrics` derives the logged metrics."""
        sums = MetricSums(dict(self._counts), qe_metrics)
        if reset:
            self._counts = dict.fromkeys(SUMS, 0.0)
        return sums


def qe_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of :meth:`MetricXScorer.metric_sums`: ``qe/items``, ``qe/mean_score``
    (finite scores) and the rate of each count over the items (NaN before any)."""
    return score_metrics("qe", sums)
