"""Language tags as single tokens, as a model warm-started to read the ``tag`` directive has them.

A tag such as ``<|out_lang_de|>`` that a tokenizer has never seen is split into five to ten
tokens, added to every routed prompt. The LRPO reference warm-starts its model by SFT to read
the tags; registering them as added tokens first (here) makes each tag one token, in SFT and
in GRPO alike. Works with any ``transformers`` tokenizer, so with TRL, OpenRLHF and verl.
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

    Tags the tokenizer already has are left as they are. With ``model``, its token embeddings
    are resized when the tokenizer outgrows them (new rows start at the mean embedding), so
    call it before training and save the tokenizer with the model.

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
