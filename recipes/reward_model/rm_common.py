"""What the reward-model recipes share: parallel GSM-symbolic questions and answers, the policy
and the reward model (real ones by name, or tiny random ones built here for ``--tiny``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def gsm_rows(languages: list[str], per_language: int) -> list[dict]:
    """The first ``per_language`` problems in each language: the same problems in every one
    (aligned by ``id``), each with its question and worked answer."""
    from lrpo.calibration.data import load_gsm_symbolic

    rows: dict[tuple[str, str], dict] = {}
    for field in ("question", "answer"):
        corpus = load_gsm_symbolic(languages, field=field)
        for item, lang, text in zip(corpus.ids, corpus.langs, corpus.texts, strict=True):
            rows.setdefault((str(lang), str(item)), {"id": str(item), "language": str(lang)})
            rows[str(lang), str(item)][field] = text
    out = []
    for lang in languages:
        same = sorted((r for (code, _), r in rows.items() if code == lang), key=lambda r: r["id"])
        out += same[:per_language]
    return out


def tiny_texts(rows: list[dict]) -> list[str]:
    """The texts a tiny tokenizer is trained on: the rows' questions and answers."""
    return [row[field] for row in rows for field in ("question", "answer")]


def tiny_reward_model(texts: list[str], seed: int = 0) -> tuple[Any, Any]:
    """A random 2-layer Qwen2 reward model (one output) and its ChatML tokenizer: a stand-in for
    a chat reward model trained in one language (its scores mean nothing)."""
    import torch
    from transformers import Qwen2ForSequenceClassification

    from lrpo.integrations.trl.tiny import tiny_qwen2_config, tiny_tokenizer

    tokenizer = tiny_tokenizer(texts)
    config = tiny_qwen2_config(tokenizer, num_labels=1)
    torch.manual_seed(seed)
    return Qwen2ForSequenceClassification(config), tokenizer


def save_tiny_reward_model(texts: list[str], folder: Path, seed: int = 0) -> Path:
    """:func:`tiny_reward_model` saved to ``folder``, loadable by name as a hub model is."""
    model, tokenizer = tiny_reward_model(texts, seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_policy(name: str, *, tiny: bool, texts: list[str], seed: int = 0) -> tuple[Any, Any]:
    """The policy and its tokenizer: :func:`~lrpo.integrations.trl.tiny.tiny_qwen2` trained on
    ``texts`` with ``tiny``, else the causal LM ``name`` from the hub or a local path."""
    if tiny:
        from lrpo.integrations.trl.tiny import tiny_qwen2

        return tiny_qwen2(seed=seed, texts=texts)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(name, dtype="auto"), AutoTokenizer.from_pretrained(
        name
    )
