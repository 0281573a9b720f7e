"""Tests for lrpo.rewards.alignment: WALAR's word-alignment F1 on the target-language spans.

Encoders are built here (nothing is downloaded): a WordPiece tokenizer over a fixed vocabulary,
with either a lookup table of hand-chosen vectors (exact expectations) or a tiny random BERT.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("py3langid")

from lrpo.metrics import MetricSums  # noqa: E402
from lrpo.rewards import (  # noqa: E402
    ALIGNMENT_REASONS,
    AlignmentConfig,
    WordAligner,
    word_alignment_f1,
)

VOCAB = [
    *("[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "##s", "and", "dog", "katze", "##n"),
    *("und", "hund", "##e", ".", "die", "sind", "sleep", "on", "mat", "schlafen", "auf"),
    *("der", "matte", "<s>"),
]
ID = {token: i for i, token in enumerate(VOCAB)}
GATE = {"candidates": ["de", "en", "ja"]}
GERMAN = "Die Katzen und die Hunde schlafen auf der Matte."
ENGLISH = "The cats and the dogs sleep on the mat."


def wordpiece_tokenizer(max_length: int = 64):
    """A fast BERT-style tokenizer (lower case, accents stripped) over ``VOCAB``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece(ID, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", ID["[CLS]"]), ("[SEP]", ID["[SEP]"])]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        additional_special_tokens=["<s>"],  # a special token a text can hold (XLM-R's)
        model_max_length=max_length,
    )


class LookupEncoder(torch.nn.Module):
    """An encoder whose only hidden state is a fixed vector per token id (no context)."""

    def __init__(self, vectors: torch.Tensor) -> None:
        super().__init__()
        self.table = torch.nn.Embedding.from_pretrained(vectors)

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
        return SimpleNamespace(hidden_states=(self.table(input_ids),))


def concept_vectors(scale: float = 10.0) -> torch.Tensor:
    """Token vectors of three concepts (cat, dog, and); exp(-scale**2) is no link at 1e-3.

    ``[UNK]`` leans to "cat" at half length, so the cat column prefers the real cats; the
    special tokens outweigh everything, so any link would go to them were they not left out.
    """
    vectors = torch.zeros(len(VOCAB), 4)
    for tokens, axis in (("cat katze ##n", 0), ("dog hund ##e", 1), ("and und", 2)):
        for token in tokens.split():
            vectors[ID[token], axis] = scale
    vectors[ID["[UNK]"], 0] = scale / 2
    for special in ("[CLS]", "[SEP]", "<s>"):
        vectors[ID[special], :3] = 2 * scale
    return vectors


@pytest.fixture(scope="module")
def lookup_aligner() -> WordAligner:
    return WordAligner(
        model=LookupEncoder(concept_vectors()), tokenizer=wordpiece_tokenizer(), layer=0, gate=GATE
    )


def tiny_bert(seed: int = 0):
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    return transformers.BertModel(config).eval()


@pytest.fixture(scope="module")
def bert_aligner() -> WordAligner:
    return WordAligner(model=tiny_bert(), tokenizer=wordpiece_tokenizer(), layer=2, gate=GATE)


def test_softmax_links_and_f1_by_hand():
    # S = [[ln 8, 0, 0], [0, 0, 0]]: rows (0.8, 0.1, 0.1) and (1/3, 1/3, 1/3), columns (8/9,
    # 1/9), (1/2, 1/2), (1/2, 1/2). At 0.4 only (0, 0) has both above: P = 1/3, R = 1/2.
    source = torch.tensor([[[math.log(8), 0.0], [0.0, 0.0]]])
    target = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    words = torch.tensor([[0, 1]])
    p, r, f1 = word_alignment_f1(source, words, target, torch.tensor([[0, 1, 2]]), 0.4)
    assert (p.item(), r.item()) == pytest.approx((1 / 3, 1 / 2))
    assert f1.item() == pytest.approx(0.4)
    # Target tokens 1 and 2 as subwords of one word: 2 target words, P = 1/2, F1 = 1/2.
    p, _, f1 = word_alignment_f1(source, words, target, torch.tensor([[0, 1, 1]]), 0.4)
    assert (p.item(), f1.item()) == pytest.approx((1 / 2, 1 / 2))
    # At 0.3 the uniform row passes against the 1/2 columns: (1, 1), (1, 2) join, all aligned.
    assert word_alignment_f1(source, words, target, torch.tensor([[0, 1, 2]]), 0.3)[2].item() == 1


def test_padding_and_left_out_tokens_change_nothing():
    source = torch.tensor([[[math.log(8), 0.0], [0.0, 0.0]]])
    target = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    # The same pair with a huge left-out token on each side (a special token, or padding),
    # batched with an empty pair: the empty one scores 0, the other as alone.
    huge = torch.tensor([[50.0, 50.0]])
    sources = torch.stack([torch.cat([source[0], huge]), torch.zeros(3, 2)])
    targets = torch.stack([torch.cat([huge, target[0]]), torch.zeros(4, 2)])
    p, r, f1 = word_alignment_f1(
        sources,
        torch.tensor([[0, 1, -1], [-1, -1, -1]]),
        targets,
        torch.tensor([[-1, 0, 1, 2], [-1, -1, -1, -1]]),
        0.4,
    )
    assert p.tolist() == pytest.approx([1 / 3, 0.0])
    assert r.tolist() == pytest.approx([1 / 2, 0.0])
    assert f1.tolist() == pytest.approx([0.4, 0.0])


def test_hand_computed_pair_through_tokenizer_and_words(lookup_aligner):
    # Tokens: katze ##n | und | hund ##e | [UNK] against the | cat ##s | and | the | dog ##s .
    # Mutual best matches link katze, ##n - cat; und - and; hund, ##e - dog. [UNK] (half a
    # cat) loses the cat column to katze; "the", "##s" and "." are no row's best.
    result = lookup_aligner.align(["Katzen und Hunde schnarchen"], ["The cats and the dogs."], "en")
    assert result.reason.tolist() == ["aligned"]
    assert result.source_words.tolist() == [4]  # Katzen, und, Hunde, schnarchen
    assert result.target_words.tolist() == [5]  # The, cats, and, the, dogs.
    assert result.recall[0] == pytest.approx(3 / 4)  # all but schnarchen
    assert result.precision[0] == pytest.approx(3 / 5)  # cats (via cat), and, dogs. (via dog)
    assert result.f1[0] == pytest.approx(2 / 3)
    # A special token written in the text is left out too: the same scores.
    again = lookup_aligner.align(
        ["Katzen und Hunde schnarchen"], ["The cats <s> and the dogs."], "en"
    )
    assert (again.target_words[0], again.f1[0]) == (5, result.f1[0])


def test_copying_the_source_earns_nothing(bert_aligner):
    result = bert_aligner.align([ENGLISH], [ENGLISH], ["de"])
    assert result.reason.tolist() == ["no_target_span"]
    assert result.f1.tolist() == [0.0]
    assert result.target_text.tolist() == [""]
    # The same copy asked in English is aligned (the mask, not the text, made the zero).
    assert bert_aligner.align([ENGLISH], [ENGLISH], "en").f1[0] > 0


@pytest.mark.parametrize("mixed", [f"{GERMAN} {ENGLISH}", f"{ENGLISH}\n{GERMAN}"])
def test_code_mixed_text_aligns_only_its_target_span(bert_aligner, mixed):
    result = bert_aligner.align([ENGLISH, ENGLISH], [mixed, GERMAN], "de")
    assert result.target_text.tolist() == [GERMAN, GERMAN]
    assert result.reason.tolist() == ["aligned", "aligned"]
    assert result.f1[0] == result.f1[1] > 0


def test_a_foreign_run_inside_a_sentence_is_masked(lookup_aligner):
    # The Japanese run is a span of its own (another script), judged Japanese and cut out.
    hypothesis = "The cats and the dogs これは日本語の文章です。"
    result = lookup_aligner.align(["Katzen und Hunde schnarchen"], [hypothesis], "en")
    assert result.target_text.tolist() == ["The cats and the dogs"]
    assert result.target_words.tolist() == [5]


def test_results_do_not_depend_on_the_batch(bert_aligner):
    sources = [ENGLISH, "The cats.", "The dogs and the cats sleep on the mat and on the dogs."]
    hypotheses = [GERMAN, "Die Katzen sind hier.", "Die Hunde schlafen."]
    together = bert_aligner.align(sources, hypotheses, "de")
    one_by_one = bert_aligner.config.model_copy(update={"batch_size": 1})
    alone = WordAligner(
        one_by_one, model=bert_aligner.model, tokenizer=bert_aligner.tokenizer
    ).align(sources, hypotheses, "de")
    np.testing.assert_allclose(together.f1, alone.f1, atol=1e-6)
    assert together.target_words.tolist() == alone.target_words.tolist()


def test_bad_inputs_score_zero_with_a_reason(bert_aligner):
    sources = ["", ENGLISH, ENGLISH, ENGLISH, ENGLISH, "```python\nx = 1\n```", ENGLISH]
    hypotheses = [GERMAN, "", "   \n ", "😀🎉👍🏽", "https://example.com/a `x`", GERMAN, "\ud800"]
    result = bert_aligner.align(sources, hypotheses, "de")
    assert result.reason.tolist() == [
        "empty_source",
        "empty_hypothesis",
        "empty_hypothesis",
        "no_target_span",  # emoji: no letters, no language
        "empty_hypothesis",  # a URL and code are not prose
        "empty_source",
        "empty_hypothesis",
    ]
    assert result.f1.tolist() == [0.0] * 7
    assert not result.truncated.any()


def test_lone_surrogates_and_emoji_inside_text_are_aligned(bert_aligner):
    hypothesis = "Die Katzen \ud800 und die Hunde 😀 schlafen auf der Matte."
    result = bert_aligner.align([ENGLISH + "\udfff"], [hypothesis], "de")
    assert result.reason.tolist() == ["aligned"]
    assert result.f1[0] > 0


def test_megabyte_texts_are_cut_and_counted(bert_aligner):
    huge = "Die Katzen schlafen auf der Matte. " * 30_000  # about 1 MB
    result = bert_aligner.align([ENGLISH, huge], [huge, GERMAN], "de")
    assert result.truncated.tolist() == [True, True]
    assert result.reason.tolist() == ["aligned", "aligned"]
    # 64 tokens at most (the tokenizer's model_max_length), two of them special.
    assert result.target_words[0] <= 62 and result.source_words[1] <= 62
    assert bert_aligner.metric_sums().values["truncated"] >= 2


def test_token_cut_alone_counts_as_truncated():
    aligner = WordAligner(
        model=tiny_bert(), tokenizer=wordpiece_tokenizer(), layer=2, gate=GATE, max_tokens=8
    )
    result = aligner.align([ENGLISH, "The cats."], [GERMAN, "Die Katzen."], "de")
    assert result.truncated.tolist() == [True, False]
    # [CLS] the cat ##s and the dog [SEP]: The, cats, and, the, dogs (its first subword).
    assert result.source_words[0] == 5


# Pieces real rollouts hold, to mix with arbitrary text (lone surrogates included).
NASTY = st.sampled_from(
    ["\ud800", "\x00", "😀", "https://x.org/a", "```py\nx=1\n```", "$x$", "\u200b", "\n", " ",
     GERMAN, ENGLISH, "これは日本語です。", "Katzen", "##s", "[CLS]", "[SEP]"]
)  # fmt: skip
ANY_TEXT = st.lists(
    NASTY | st.text(st.characters(exclude_categories=()), max_size=15), max_size=5
).map("".join)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(ANY_TEXT, ANY_TEXT, st.sampled_from(GATE["candidates"])), max_size=6)
)
def test_any_strings_give_one_result_each(bert_aligner, pairs):
    sources, hypotheses, targets = ([p[i] for p in pairs] for i in range(3))
    result = bert_aligner.align(sources, hypotheses, targets)
    assert all(len(values) == len(pairs) for values in vars(result).values())
    assert ((result.f1 >= 0) & (result.f1 <= 1)).all()
    assert set(result.reason) <= set(ALIGNMENT_REASONS)
    assert (result.f1[result.reason != "aligned"] == 0).all()


def test_metric_sums_count_reasons_and_merge(bert_aligner):
    bert_aligner.metric_sums(reset=True)
    result = bert_aligner.align([ENGLISH] * 4, [GERMAN, ENGLISH, "", "😀"], "de")
    sums = bert_aligner.metric_sums(reset=True)
    assert isinstance(sums, MetricSums)
    metrics = sums.metrics()
    assert metrics["align/pairs"] == 4.0
    assert metrics["align/aligned_rate"] == 0.25
    assert metrics["align/no_target_span_rate"] == 0.5
    assert metrics["align/empty_hypothesis_rate"] == 0.25
    assert metrics["align/f1_mean"] == pytest.approx(result.f1[0] / 4)
    assert math.isnan(bert_aligner.metric_sums().metrics()["align/f1_mean"])  # reset worked
    merged = MetricSums.merge([sums, sums]).metrics()
    assert merged == pytest.approx(metrics | {"align/pairs": 8.0})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"layer": -1}, "layer"),
        ({"max_tokens": 2}, "max_tokens"),
        ({"batch_size": 0}, "batch_size"),
        ({"gate": {"mode": "fuzzy"}}, "mode"),
        ({"window": 3}, "Extra inputs"),
    ],
)
def test_bad_configuration_is_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        AlignmentConfig(**settings)


def test_bad_construction_is_refused(tmp_path):
    model, tokenizer = tiny_bert(), wordpiece_tokenizer()
    with pytest.raises(ValueError, match="both model and tokenizer"):
        WordAligner(model=model)
    with pytest.raises(ValueError, match="either an AlignmentConfig or keyword"):
        WordAligner(AlignmentConfig(), layer=2)
    with pytest.raises(ValueError, match=r"layer=3 but the encoder gives 3 hidden states"):
        WordAligner(model=model, tokenizer=tokenizer, layer=3, gate=GATE)
    slow = SimpleNamespace(is_fast=False)  # a tokenizer without offsets
    with pytest.raises(TypeError, match="fast tokenizer"):
        WordAligner(model=model, tokenizer=slow, layer=2, gate=GATE)
    with pytest.raises(OSError, match="could not load the alignment encoder"):
        WordAligner(encoder=str(tmp_path / "missing"), gate=GATE)


def test_an_encoder_is_loaded_from_a_local_directory(tmp_path, bert_aligner):
    bert_aligner.model.save_pretrained(tmp_path)
    bert_aligner.tokenizer.save_pretrained(tmp_path)
    loaded = WordAligner(encoder=str(tmp_path), layer=2, gate=GATE, device="cpu")
    expected = bert_aligner.align([ENGLISH], [GERMAN], "de").f1
    np.testing.assert_allclose(loaded.align([ENGLISH], [GERMAN], "de").f1, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda a: a.align(ENGLISH, [GERMAN], "de"), TypeError, "wrap a single text in a list"),
        (lambda a: a.align([ENGLISH], [None], "de"), TypeError, r"hypotheses\[0\] must be a str"),
        (lambda a: a.align([ENGLISH], [GERMAN, GERMAN], "de"), ValueError, "1 sources but 2"),
        (lambda a: a.align([ENGLISH], [GERMAN], ["de", "en"]), ValueError, "2 requested"),
        (lambda a: a.align([ENGLISH], [GERMAN], "fr"), ValueError, "neither a candidate"),
    ],
)
def test_bad_calls_are_refused(bert_aligner, call, error, message):
    with pytest.raises(error, match=message):
        call(bert_aligner)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_scores(bert_aligner):
    sources, hypotheses = [ENGLISH, "The cats."], [GERMAN, f"{GERMAN} {ENGLISH}"]
    on_cpu = bert_aligner.align(sources, hypotheses, "de")
    on_gpu = WordAligner(
        model=tiny_bert(), tokenizer=wordpiece_tokenizer(), layer=2, gate=GATE, device="cuda"
    ).align(sources, hypotheses, "de")
    np.testing.assert_allclose(on_gpu.f1, on_cpu.f1, atol=1e-5)
