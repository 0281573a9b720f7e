"""Language tags as single tokens: a tag such as ``<|out_lang_de|>`` that a tokenizer has never
seen is split into five to ten tokens on every routed prompt; registered as added tokens before
the SFT warm-start, each tag is one token in SFT and GRPO alike (any ``transformers`` tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lrpo.languages import DEFAULT_TAG_TEMPLATE, DirectiveStyle, directive_text

__all__ = ["add_language_tags"]


def add_language_tags(
    tokenizer: Any,
    languages: Sequence[str],
    *,
    tag_template: str = DEFAULT_TAG_TEMPLATE,
    model: Any = None,
) -> list[str]:
    """Add each language's tag to ``tokenizer`` as one special token; returns the tags.

    Tags the tokenizer has are left as they are. With ``model``, its token embeddings are
    resized when the tokenizer outgrows them; call it before training, save both together.

    Examples
    --------
    >>> from lrpo.integrations.trl.tiny import tiny_qwen2
    >>> model, tokenizer = tiny_qwen2()
    >>> add_language_tags(tokenizer, ["de", "sw"], model=model)
    ['<|out_lang_de|>', '<|out_lang_sw|>']
    >>> tokenizer("<|out_lang_de|>", add_special_tokens=False)["input_ids"] == [len(tokenizer) - 2]
    True
    """
    tags = [
        directive_text(code, DirectiveStyle.TAG, tag_template=tag_template) for code in languages
    ]
    tokenizer.add_tokens(tags, special_tokens=True)
    if model is not None and len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return tags
