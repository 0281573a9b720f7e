"""`WordAligner`: WALAR's word-alignment F1 between a source and the target-language part of a
hypothesis.

A quality-estimation metric can be fooled by a fluent answer that leaves half the source out;
word alignment measures how much of each side the other covers (seed 003, after SimAlign):

1. **Target spans** (MaskLID's role in WALAR): the hypothesis is cut into spans
   (:mod:`lrpo.rewards.spans`) and each is judged by a :class:`~lrpo.rewards.LanguageGate`;
   only spans that pass in the target language are aligned, so copying the source or
   code-mixing earns nothing. No such span: F1 = 0, reason ``no_target_span``.
2. **Token vectors**: one hidden state (bge-m3's layer 24 by default) of any transformers
   encoder, source and target encoded apart; special and padding tokens are left out.
3. **Links**: ``S = X Y^T`` over source x target tokens; a link where ``softmax(S, rows)`` and
   ``softmax(S, columns)`` both exceed the threshold (1e-3). A word pair is linked when any of
   their subword pairs is.
4. **F1** (WALAR's definition): ``P`` = target words with a link / target words, ``R`` =
   source words with a link / source words, ``F1 = 2PR / (P + R)`` (0 when both are 0).

A word is a run of non-space characters (punctuation stays on its word), or one character of a
script written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar); a word counts when the
encoder saw one of its tokens, so text cut by ``max_tokens`` counts on neither side. Source and
hypothesis are cleaned first (:func:`~lrpo.rewards.cleaning.strip_non_prose`: code, URLs,
technical tokens out), so any ``str`` is accepted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from lrpo.metrics import MetricSums

from .alignment_config import ALIGNMENT_REASONS, AlignmentConfig, AlignmentResult
from .cleaning import strip_non_prose, text_list
from .gate import LanguageGate
from .model_scores import default_device
from .scripts import CHARS_PER_WORD, script_table

if TYPE_CHECKING:
    import torch

__all__ = [
    "ALIGNMENT_REASONS",
    "AlignmentConfig",
    "AlignmentResult",
    "WordAligner",
    "alignment_metrics",
    "word_alignment_f1",
]


def word_alignment_f1(
    source_vectors: torch.Tensor,
    source_words: torch.Tensor,
    target_vectors: torch.Tensor,
    target_words: torch.Tensor,
    threshold: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Precision, recall and F1 of the softmax word alignment of B padded pairs.

    Parameters
    ----------
    source_vectors, target_vectors : torch.Tensor, shape (B, S, D) and (B, T, D)
        Token vectors of each pair.
    source_words, target_words : torch.Tensor of int, shape (B, S) and (B, T)
        Word index of each token within its text; -1 for tokens left out (special, padding).
    threshold : float, default 1e-3
        A token pair is linked when both softmaxes exceed it.

    Returns
    -------
    precision, recall, f1 : torch.Tensor, shape (B,)
        Aligned target words over target words, aligned source words over source words, and
        their harmonic mean (0 where a side has no word or nothing is linked).

    Examples
    --------
    Two source words (the first of two subwords) and two target words; the unmatched
    subword ``[1, 0]`` is linked with nothing, yet its word is aligned through its sibling:

    >>> import torch
    >>> source = torch.tensor([[[9.0, 0.0], [1.0, 0.0], [0.0, 9.0]]])
    >>> target = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> p, r, f1 = word_alignment_f1(source, torch.tensor([[0, 0, 1]]),
    ...                              target, torch.tensor([[0, 1]]), threshold=0.5)
    >>> p.item(), r.item(), f1.item()
    (1.0, 1.0, 1.0)
    """
    import torch

    scores = torch.einsum("bsd,btd->bst", source_vectors.float(), target_vectors.float())
    pairs = (source_words >= 0)[:, :, None] & (target_words >= 0)[:, None, :]
    scores = scores.masked_fill(~pairs, -math.inf)
    # A row or column without any token is all -inf: its softmax is NaN, read as no link.
    forward = scores.softmax(dim=-1).nan_to_num(0.0)
    backward = scores.softmax(dim=-2).nan_to_num(0.0)
    links = (forward > threshold) & (backward > threshold) & pairs
    recall = _share(source_words, links.any(dim=2))
    precision = _share(target_words, links.any(dim=1))
    total = precision + recall
    f1 = torch.where(total > 0, 2 * precision * recall / total.clamp(min=1e-12), 0.0)
    return precision, recall, f1


def _share(words: torch.Tensor, linked: torch.Tensor) -> torch.Tensor:
    """Per row, words with a linked token over words with any token (0 without words)."""
    import torch

    width = int(words.max().clamp(min=0)) + 2 if words.numel() else 1
    index = torch.where(words >= 0, words, width - 1)  # left-out tokens: a column dropped below
    zeros = torch.zeros(words.shape[0], width, dtype=torch.long, device=words.device)
    seen = zeros.scatter_add(1, index, (words >= 0).long())[:, :-1] > 0
    hit = zeros.scatter_add(1, index, (linked & (words >= 0)).long())[:, :-1] > 0
    count = seen.sum(dim=1)
    return torch.where(count > 0, hit.sum(dim=1) / count.clamp(min=1), 0.0)


class WordAligner:
    """Word-alignment F1 of (source, hypothesis) pairs, on the hypothesis' target-language part.

    Parameters
    ----------
    config : AlignmentConfig, optional
        All settings; or give them as keywords (``WordAligner(threshold=0.01)``).
    model, tokenizer : optional
        A loaded transformers encoder and its *fast* tokenizer (offsets map tokens to words);
        both or neither. Neither: ``config.encoder`` is loaded by name or path.

    Raises
    ------
    ValueError
        A bad setting, only one of model and tokenizer, or a layer the encoder does not have.
    TypeError
        A tokenizer without offsets (not a fast one).
    OSError
        ``config.encoder`` cannot be loaded (the message says what to pass instead).

    Attributes
    ----------
    gate : LanguageGate
        Judges the spans (its own counts are per span, :meth:`metric_sums` per pair).
    max_tokens : int
        ``config.max_tokens`` capped at the tokenizer's ``model_max_length``.

    Examples
    --------
    >>> aligner = WordAligner(gate={"candidates": ["de", "en"]})  # doctest: +SKIP
    >>> result = aligner.align(["The cat sleeps."], ["Die Katze schläft."], "de")  # doctest: +SKIP
    >>> result.reason.tolist(), bool(result.f1[0] > 0)  # doctest: +SKIP
    (['aligned'], True)
    """

    def __init__(
        self, config: AlignmentConfig | None = None, *, model=None, tokenizer=None, **settings
    ) -> None:
        if config is not None and settings:
            raise ValueError("give either an AlignmentConfig or keyword settings, not both")
        self.config = config = config if config is not None else AlignmentConfig(**settings)
        if (model is None) != (tokenizer is None):
            raise ValueError(
                "pass both model and tokenizer, or neither (then config.encoder is loaded)"
            )
        if model is None:
            model, tokenizer = _load_encoder(config.encoder)
            model.to(config.device or default_device())
        elif config.device is not None:
            model.to(config.device)
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError(
                f"the alignment needs a fast tokenizer (token offsets), got "
                f"{type(tokenizer).__name__}; load it with AutoTokenizer(..., use_fast=True)"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_tokens = min(config.max_tokens, tokenizer.model_max_length)
        self.gate = LanguageGate(config.gate)
        # Left out by id (the tokenizer's mask misses those written in the text, "<s>"); the
        # unknown token stands for a word and stays.
        self._special_ids = sorted(set(tokenizer.all_special_ids) - {tokenizer.unk_token_id})
        self._counts = dict.fromkeys(_SUMS, 0.0)
        self._encode(["probe"])  # a layer the encoder lacks fails here, not in training

    @property
    def device(self):
        """The encoder's torch device (inputs are moved there)."""
        return next(self.model.parameters()).device

    def align(
        self,
        sources: Sequence[str],
        hypotheses: Sequence[str],
        targets: Sequence[str] | str,
    ) -> AlignmentResult:
        """Align every hypothesis' target-language part with its source.

        Parameters
        ----------
        sources, hypotheses : sequence of str
            B source texts and B model outputs (raw; cleaned here). Any ``str`` is accepted.
        targets : str or sequence of str
            Target language of each hypothesis (lrpo codes the gate can check), or one for all.

        Returns
        -------
        AlignmentResult
            Also added to the running counts (:meth:`metric_sums`).

        Raises
        ------
        TypeError
            Texts that are not a sequence of ``str``.
        ValueError
            Not one hypothesis per source, or a target language the gate cannot check.
        """
        sources = text_list(sources, "sources")
        hypotheses = text_list(hypotheses, "hypotheses")
        size = len(sources)
        if len(hypotheses) != size:
            raise ValueError(f"got {size} sources but {len(hypotheses)} hypotheses")
        source_text, source_cut = self._clean(sources)
        hypothesis_text, hypothesis_cut = self._clean(hypotheses)
        target_text = self.gate.target_spans(hypothesis_text, targets)

        reason = np.full(size, "aligned", dtype=object)
        reason[_blank(target_text)] = "no_target_span"
        reason[_blank(hypothesis_text)] = "empty_hypothesis"
        reason[_blank(source_text)] = "empty_source"
        precision, recall, f1 = np.zeros(size), np.zeros(size), np.zeros(size)
        source_words = np.zeros(size, dtype=np.int64)
        target_words = np.zeros(size, dtype=np.int64)
        truncated = source_cut | hypothesis_cut
        todo = np.flatnonzero(reason == "aligned")
        for start in range(0, todo.size, self.config.batch_size):
            chunk = todo[start : start + self.config.batch_size]
            n = chunk.size
            texts = [source_text[i] for i in chunk] + [target_text[i] for i in chunk]
            vectors, words, cut = self._encode(texts)
            scores = word_alignment_f1(
                vectors[:n], words[:n], vectors[n:], words[n:], self.config.threshold
            )
            precision[chunk], recall[chunk], f1[chunk] = (s.cpu().numpy() for s in scores)
            source_words[chunk] = _word_counts(words[:n])
            target_words[chunk] = _word_counts(words[n:])
            truncated[chunk] |= cut[:n] | cut[n:]

        result = AlignmentResult(
            f1=f1,
            precision=precision,
            recall=recall,
            source_words=source_words,
            target_words=target_words,
            target_text=np.array(target_text, dtype=object),
            truncated=truncated,
            reason=reason,
        )
        counts = self._counts
        counts["pairs"] += size
        counts["truncated"] += float(np.count_nonzero(truncated))
        counts["f1"] += float(f1.sum())
        for name, count in result.counts().items():
            counts[name] += count
        return result

    def _clean(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """Prose of each text cut to ``max_chars``, and whether it was cut."""
        strip_math, limit = self.config.gate.strip_math, self.config.max_chars
        prose = [strip_non_prose(text, strip_math=strip_math) for text in texts]
        cut = np.array([len(text) > limit for text in prose], dtype=bool)
        return [text[:limit].strip() for text in prose], cut

    def _encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Token vectors (N, L, D), word index per token (N, L; -1 left out) and whether each
        text lost tokens to ``max_tokens``."""
        import torch

        encoded = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        sample = encoded["overflow_to_sample_mapping"].numpy()
        first = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]])  # a text's head row
        cut = np.bincount(sample, minlength=len(texts)) > 1
        ids = encoded["input_ids"][first]
        special = torch.isin(ids, torch.tensor(self._special_ids, dtype=ids.dtype))
        kept = encoded["attention_mask"][first].bool() & ~special
        offsets = encoded["offset_mapping"][first].numpy()
        words = np.stack(
            [_token_words(text, offsets[i], kept[i].numpy()) for i, text in enumerate(texts)]
        )
        with torch.inference_mode():
            output = self.model(
                input_ids=ids.to(self.device),
                attention_mask=encoded["attention_mask"][first].to(self.device),
                output_hidden_states=True,
            )
        hidden = getattr(output, "hidden_states", None) or ()
        layer = self.config.layer
        if len(hidden) <= layer:
            raise ValueError(
                f"layer={layer} but the encoder gives {len(hidden)} hidden states (0: the "
                f"embeddings, then one per layer); choose a layer below {len(hidden)}"
            )
        return hidden[layer], torch.from_numpy(words).to(self.device), cut

    def metric_sums(self, *, reset: bool = False) -> MetricSums:
        """``pairs``, ``truncated``, the ``f1`` sum and one count per
        :data:`ALIGNMENT_REASONS` since the last reset (``reset=True``: start a new window);
        :func:`alignment_metrics` derives the logged metrics, so ranks merge exactly."""
        sums = MetricSums(dict(self._counts), alignment_metrics)
        if reset:
            self._counts = dict.fromkeys(_SUMS, 0.0)
        return sums


#: Keys of :meth:`WordAligner.metric_sums`.
_SUMS = ("pairs", "truncated", "f1", *ALIGNMENT_REASONS)


def alignment_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """The logged metrics of :meth:`WordAligner.metric_sums`: ``align/f1_mean`` over all pairs,
    ``align/<reason>_rate`` per reason and ``align/truncated_rate`` (NaN before any pair), and
    ``align/pairs``."""
    total = sums.get("pairs", 0.0)

    def rate(name: str) -> float:
        return sums.get(name, 0.0) / total if total else math.nan

    rates = {f"align/{name}_rate": rate(name) for name in (*ALIGNMENT_REASONS, "truncated")}
    return {"align/f1_mean": rate("f1"), **rates, "align/pairs": float(total)}


def _blank(texts: list[str]) -> np.ndarray:
    return np.array([not text for text in texts], dtype=bool)


@functools.cache
def _unspaced() -> np.ndarray:
    """Code point -> written without spaces (each character a word)."""
    return script_table(list(CHARS_PER_WORD)) > 0


def _token_words(text: str, offsets: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Word index of each token of ``text`` (-1: left out, or only white space)."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    space = np.array([c.isspace() for c in text], dtype=bool)
    unspaced = _unspaced()[points]
    alone = np.r_[True, space[:-1] | unspaced[:-1]] | unspaced
    word = np.cumsum(~space & alone) - 1
    # First non-space character at or after each position (len(text): none).
    position = np.where(space, len(text), np.arange(len(text)))
    following = np.r_[np.minimum.accumulate(position[::-1])[::-1], len(text)]
    start, end = offsets[:, 0].clip(0, len(text)), offsets[:, 1]
    first = following[start]
    inside = kept & (first < end)
    return np.where(inside, np.r_[word, -1][first.clip(max=len(text))], -1)


def _word_counts(words: torch.Tensor) -> np.ndarray:
    """Distinct words with a token, per row."""
    return np.array([np.unique(row[row >= 0]).size for row in words.cpu().numpy()])


def _load_encoder(name: str):
    """AutoModel and AutoTokenizer of a hub id or local directory; OSError naming the fix."""
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as error:
        raise ImportError(
            "the word alignment needs torch and transformers: pip install 'lrpo[embed]'"
        ) from error
    try:
        return AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise OSError(
            f"could not load the alignment encoder {name!r} ({error}); give a local directory "
            "(encoder=...), or pass a loaded model= and tokenizer="
        ) from error
