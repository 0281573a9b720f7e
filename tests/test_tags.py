"""Tests for lrpo.integrations.tags: language tags as single tokens."""

import pytest

pytest.importorskip("transformers")

from lrpo.integrations.tags import add_language_tags
from lrpo.integrations.trl.tiny import tiny_qwen2
from lrpo.languages import UnknownLanguageError, apply_directive


def ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_each_tag_becomes_one_token_and_the_model_grows_to_match():
    model, tokenizer = tiny_qwen2()
    before = len(ids(tokenizer, "<|out_lang_sw|>"))
    assert before > 3  # the tiny tokenizer never saw the tag: it spells it out

    tags = add_language_tags(tokenizer, ["de", "sw"], model=model)

    assert tags == ["<|out_lang_de|>", "<|out_lang_sw|>"]
    assert [ids(tokenizer, tag) for tag in tags] == [[len(tokenizer) - 2], [len(tokenizer) - 1]]
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    question = "Wie viel ist zwei plus drei?"
    routed = apply_directive(question, "sw", "tag")
    assert len(ids(tokenizer, routed)) <= len(ids(tokenizer, question)) + 2  # "\n" + the tag


def test_adding_again_changes_nothing_and_a_custom_template_is_used():
    model, tokenizer = tiny_qwen2()
    add_language_tags(tokenizer, ["de"], model=model)
    size = len(tokenizer)
    assert add_language_tags(tokenizer, ["de"], model=model) == ["<|out_lang_de|>"]
    assert len(tokenizer) == size == model.get_input_embeddings().num_embeddings

    assert add_language_tags(tokenizer, ["ja"], tag_template="[{code}]") == ["[ja]"]
    assert ids(tokenizer, "[ja]") == [size]
    # without the model nothing is resized: the caller resizes (or passes model=)
    assert model.get_input_embeddings().num_embeddings == size


@pytest.mark.parametrize(
    ("languages", "template", "error"),
    [(["xx-nope"], "<|out_lang_{code}|>", UnknownLanguageError), (["de"], "<|lang|>", ValueError)],
)
def test_bad_codes_and_templates_raise_before_touching_the_tokenizer(languages, template, error):
    _, tokenizer = tiny_qwen2()
    size = len(tokenizer)
    with pytest.raises(error):
        add_language_tags(tokenizer, languages, tag_template=template)
    assert len(tokenizer) == size
