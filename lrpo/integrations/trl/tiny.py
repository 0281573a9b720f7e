"""A tiny random Qwen2 and a byte-level BPE tokenizer built locally (nothing is downloaded), for
tests and ``--tiny`` runs: two GRPO steps take seconds on a CPU. For plumbing, not learning."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["CHAT_TEMPLATE", "tiny_qwen2", "tiny_qwen2_config", "tiny_tokenizer"]

#: A ChatML template (the Qwen2 format) with a generation prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_CORPUS = (
    "What is two plus three? The answer is five.",
    "Wie viel ist zwei plus drei? Die Antwort ist fünf.",
    "二足す三は何ですか。答えは五です。",
    "Mbili jumlisha tatu ni ngapi? Jibu ni tano.",
    "Answer in English. Antworte auf Deutsch. Jibu kwa Kiswahili.",
)


def tiny_tokenizer(texts: Iterable[str] = _CORPUS, vocab_size: int = 300):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with a ChatML template, trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(_SPECIAL),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tiny_qwen2_config(tokenizer: Any, **overrides: Any) -> Any:
    """The tiny Qwen2's ``Qwen2Config`` (2 layers, hidden 16) for ``tokenizer``'s vocabulary;
    ``overrides`` for other heads (``num_labels=1`` for a reward model)."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        **overrides,
    )


def tiny_qwen2(seed: int = 0, texts: Iterable[str] = _CORPUS):
    """``(model, tokenizer)``: a random 2-layer Qwen2 (hidden 16) and :func:`tiny_tokenizer`."""
    import torch
    from transformers import Qwen2ForCausalLM

    tokenizer = tiny_tokenizer(texts)
    config = tiny_qwen2_config(
        tokenizer,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer
