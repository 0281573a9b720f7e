"""RewardModelScorer on tiny reward models built here: a Qwen2 with a chat template (the chat
format) and a BERT cross-encoder (the text-pair format); exact scores, batching, bad input."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")  # lrpo.integrations.trl.tiny lives in the TRL integration

from lrpo.integrations.trl.tiny import tiny_tokenizer  # noqa: E402
from lrpo.metrics import MetricSums  # noqa: E402
from lrpo.rewards import RewardModelScorer, reward_model_metrics  # noqa: E402

MAX_POSITIONS = 64
#: float32 scores of one pair in batches of different shapes differ by the reduction order of
#: the matrix products (measured: up to 7e-7 on scores of order 1); 1e-5 leaves a 10x margin
#: and stays far below the 1e-2 gaps between the scores of different texts of these models.
BATCH_ATOL = 1e-5
PAIRS = [
    ("Wie viel ist zwei plus drei?", "Die Antwort ist fünf."),
    ("What is two plus three?", "Five."),
    ("二足す三は何ですか。", "答えは五です。"),
    ("Mbili jumlisha tatu ni ngapi?", "Jibu ni tano, kwa sababu mbili na tatu ni tano."),
    ("", ""),
    ("What is two plus three?", "🙂🙂 five 🎉"),
]


def tiny_chat_reward_model(seed: int = 0):
    """A random 2-layer Qwen2 reward model (one output) and a ChatML tokenizer."""
    tokenizer = tiny_tokenizer()
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=MAX_POSITIONS,
        num_labels=1,
    )
    torch.manual_seed(seed)
    return transformers.Qwen2ForSequenceClassification(config), tokenizer


def tiny_pair_reward_model(tmp_path_factory):
    """A random 2-layer BERT cross-encoder and a WordPiece tokenizer of letters (no template)."""
    letters = [*"abcdefghijklmnopqrstuvwxyzü.?!,"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *(f"##{c}" for c in letters)]
    path = tmp_path_factory.mktemp("bert") / "vocab.txt"
    path.write_text("\n".join(vocab), encoding="utf-8")
    tokenizer = transformers.BertTokenizer(vocab_file=str(path))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        num_labels=1,
        initializer_range=0.5,  # the default 0.02 gives all texts nearly one score
    )
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config), tokenizer


@pytest.fixture(scope="module")
def chat_model():
    return tiny_chat_reward_model()


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory):
    return tiny_pair_reward_model(tmp_path_factory)


def forward(model, encoded) -> float:
    """The model's output on one unpadded input: the reference the scorer must reproduce."""
    with torch.inference_mode():
        tensors = {key: torch.tensor([values]) for key, values in encoded.items()}
        return float(model(**tensors).logits[0, 0])


def test_chat_scores_are_the_models_output_on_the_templated_conversation(chat_model) -> None:
    model, tokenizer = chat_model
    scorer = RewardModelScorer(model, tokenizer)
    prompt, completion = PAIRS[0]
    text = f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{completion}<|im_end|>\n"
    expected = forward(model, tokenizer(text, add_special_tokens=False))
    assert scorer.input_format_ == "chat"
    assert scorer.score([prompt], [completion])[0] == pytest.approx(expected, abs=1e-6)
    # TRL's conversational rows: the same conversation as message lists.
    chat = scorer(
        [[{"role": "user", "content": prompt}]], [[{"role": "assistant", "content": completion}]]
    )
    assert chat[0] == pytest.approx(expected, abs=1e-6)


def test_pair_scores_are_the_models_output_on_the_text_pair(pair_model) -> None:
    model, tokenizer = pair_model
    scorer = RewardModelScorer(model, tokenizer)
    assert scorer.input_format_ == "pair"  # no template, a separator token
    encoded = tokenizer("wie viel?", "fünf.")
    assert encoded["token_type_ids"][-1] == 1  # the completion is the second segment
    expected = forward(model, encoded)
    assert scorer.score(["wie viel?"], ["fünf."])[0] == pytest.approx(expected, abs=1e-6)
    # a chat message list is no text pair
    assert math.isnan(scorer.score([[{"role": "user", "content": "a"}]], ["b"])[0])


def test_a_decoder_tokenizer_without_template_is_refused_unless_a_format_is_named(
    chat_model,
) -> None:
    model, tokenizer = chat_model
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template and no separator token"):
        RewardModelScorer(model, bare)
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        RewardModelScorer(model, bare, input_format="chat")
    scorer = RewardModelScorer(model, bare, input_format="pair")
    expected = forward(model, bare("Q", "A"))
    assert scorer.score(["Q"], ["A"])[0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("which", ["chat", "pair"])
def test_batches_give_the_scores_of_one_pair_at_a_time(which, chat_model, pair_model) -> None:
    model, tokenizer = chat_model if which == "chat" else pair_model
    prompts, completions = zip(*(PAIRS * 3), strict=True)
    alone = RewardModelScorer(model, tokenizer, batch_size=1).score(prompts, completions)
    for batch_size in (4, 64):
        batched = RewardModelScorer(model, tokenizer, batch_size=batch_size)
        np.testing.assert_allclose(batched.score(prompts, completions), alone, atol=BATCH_ATOL)
    assert np.ptp(alone[: len(PAIRS)]) > 100 * BATCH_ATOL  # the texts do get different scores


def test_without_a_pad_token_the_end_of_sequence_token_pads(chat_model) -> None:
    model, tokenizer = copy.deepcopy(chat_model)
    tokenizer.pad_token, model.config.pad_token_id = None, None
    prompts, completions = zip(*PAIRS, strict=True)
    batched = RewardModelScorer(model, tokenizer, batch_size=4)
    assert model.config.pad_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id
    alone = RewardModelScorer(model, tokenizer, batch_size=1).score(prompts, completions)
    np.testing.assert_allclose(batched.score(prompts, completions), alone, atol=BATCH_ATOL)
    tokenizer.pad_token, tokenizer.eos_token = None, None
    with pytest.raises(ValueError, match="no pad and no end-of-sequence token"):
        RewardModelScorer(model, tokenizer)


def test_non_finite_model_outputs_are_nan_and_counted(chat_model) -> None:
    model, tokenizer = copy.deepcopy(chat_model)
    poisoned = tokenizer.convert_tokens_to_ids("Z")
    with torch.no_grad():
        model.get_input_embeddings().weight[poisoned] = math.nan
    scorer = RewardModelScorer(model, tokenizer, batch_size=4)
    scores = scorer.score(["Q", "Q", "Q"], ["fine", "Z", "also fine"])
    assert math.isnan(scores[1]) and np.isfinite(scores[[0, 2]]).all()
    metrics = scorer.metric_sums().metrics()
    assert metrics["reward_model/nan_rate"] == pytest.approx(1 / 3)
    assert metrics["reward_model/mean_score"] == pytest.approx(scores[[0, 2]].mean())


@pytest.mark.parametrize("which", ["chat", "pair"])
def test_long_texts_are_truncated_to_max_length_and_counted(which, chat_model, pair_model) -> None:
    model, tokenizer = chat_model if which == "chat" else pair_model
    scorer = RewardModelScorer(model, tokenizer)
    megabyte = "die antwort ist fünf. " * 50_000  # 1.1 MB
    if which == "chat":
        text = f"<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n{megabyte[:2000]}"
        first = {"input_ids": tokenizer(text)["input_ids"][:MAX_POSITIONS]}
    else:  # the longer text loses tokens first; the pair keeps its closing separator
        first = tokenizer("q", megabyte[:2000], truncation=True, max_length=MAX_POSITIONS)
    scores = scorer.score(["q", "q"], [megabyte, "fünf."])
    assert scores[0] == pytest.approx(forward(model, first), abs=1e-6)
    sums = scorer.metric_sums().values
    assert sums["truncated"] == 1 and sums["items"] == 2


def test_lone_surrogates_become_replacement_characters_and_are_counted(chat_model) -> None:
    model, tokenizer = chat_model
    scorer = RewardModelScorer(model, tokenizer)
    scores = scorer.score(["Q\ud800", "Q"], ["A\udfff", "A"])
    assert scores[0] == pytest.approx(scorer.score(["Q\ufffd"], ["A\ufffd"])[0], abs=1e-6)
    assert scorer.metric_sums().values["repaired"] == 1  # one item, two texts repaired


def test_items_that_are_not_text_are_nan_and_counted(chat_model) -> None:
    model, tokenizer = chat_model
    scorer = RewardModelScorer(model, tokenizer)
    scores = scorer.score(["Q", None, "Q"], ["A", "A", 42])
    assert np.isfinite(scores[0]) and np.isnan(scores[1:]).all()
    assert scorer.metric_sums().metrics()["reward_model/invalid_rate"] == pytest.approx(2 / 3)


def test_metric_sums_reset_and_merge_across_ranks(chat_model) -> None:
    model, tokenizer = chat_model
    ranks = [RewardModelScorer(model, tokenizer) for _ in range(2)]
    ranks[0].score(["Q", "Q"], ["A", None])
    ranks[1].score(["Q"], ["B"])
    merged = MetricSums.merge(rank.metric_sums(reset=True) for rank in ranks).metrics()
    assert merged["reward_model/items"] == 3
    assert merged["reward_model/invalid_rate"] == pytest.approx(1 / 3)
    assert ranks[0].metric_sums().values["items"] == 0  # reset
    assert math.isnan(reward_model_metrics({})["reward_model/nan_rate"])


def test_from_pretrained_loads_a_saved_model_and_scores_alike(chat_model, tmp_path) -> None:
    model, tokenizer = chat_model
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = RewardModelScorer.from_pretrained(tmp_path, device="cpu", batch_size=2)
    prompts, completions = zip(*PAIRS, strict=True)
    expected = RewardModelScorer(model, tokenizer).score(prompts, completions)
    np.testing.assert_allclose(loaded.score(prompts, completions), expected, atol=1e-6)
    # a TRL reward function: extra columns such as the language are ignored
    trl_style = loaded(prompts=list(prompts), completions=list(completions), language=["de"] * 6)
    np.testing.assert_allclose(trl_style, expected, atol=1e-6)


def test_bad_settings_and_shapes_are_refused(chat_model) -> None:
    model, tokenizer = chat_model
    two_labels = transformers.Qwen2ForSequenceClassification(
        transformers.Qwen2Config(**{**model.config.to_dict(), "num_labels": 2})
    )
    with pytest.raises(ValueError, match="num_labels=1"):
        RewardModelScorer(two_labels, tokenizer)
    with pytest.raises(ValueError, match="batch_size"):
        RewardModelScorer(model, tokenizer, batch_size=0)
    with pytest.raises(ValueError, match="input_format"):
        RewardModelScorer(model, tokenizer, input_format="text")
    scorer = RewardModelScorer(model, tokenizer)
    with pytest.raises(ValueError, match="2 prompts and 1 completions"):
        scorer.score(["a", "b"], ["c"])
    with pytest.raises(TypeError, match="got a str"):
        scorer.score("a", "b")


#: Any str: surrogates included (hypothesis leaves them out by default), and the hard cases.
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=300) | st.sampled_from(
    ["", "🙂" * 200, "\ud800", "Z" * 1000, "<|im_end|>", "\x00"]
)


@pytest.mark.parametrize("which", ["chat", "pair"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=st.lists(st.tuples(any_text, any_text), max_size=6))
def test_one_float_per_pair_for_any_text(which, chat_model, pair_model, pairs) -> None:
    model, tokenizer = chat_model if which == "chat" else pair_model
    scorer = RewardModelScorer(model, tokenizer, batch_size=4)
    prompts, completions = [p for p, _ in pairs], [c for _, c in pairs]
    scores = scorer.score(prompts, completions)
    assert scores.shape == (len(pairs),) and scores.dtype == np.float64
    assert np.isfinite(scores).all()  # every str is scored (repaired and truncated if need be)


def test_as_the_scorer_of_a_semantic_reward_it_is_calibrated_per_requested_language(
    chat_model,
) -> None:
    from lrpo.rewards import ScoreCalibrator, SemanticReward

    model, tokenizer = chat_model
    scorer = RewardModelScorer(model, tokenizer)
    prompts = [p for p, _ in PAIRS[:4]]
    completions = [c for _, c in PAIRS[:4]]
    raw = scorer.score(prompts, completions)
    # A calibrator that sees Swahili answers 0.5 lower than German ones: one raw score gives
    # a German answer less reward than a Swahili one.
    sample = np.concatenate([raw, raw - 0.5])
    calibrator = ScoreCalibrator(bounds=(-5.0, 5.0)).fit(sample, ["de"] * 4 + ["sw"] * 4)
    reward = SemanticReward(
        {"gate": None, "pair_key": "requested"}, scorer=scorer, score_calibrator=calibrator
    )
    # TRL's conversational rows, with the routed language as the `language` column
    languages = ["de", "sw", "de", "sw"]
    got = reward(
        prompts=[[{"role": "user", "content": p}] for p in prompts],
        completions=[[{"role": "assistant", "content": c}] for c in completions],
        language=languages,
    )
    breakdown = reward.last_breakdown
    np.testing.assert_allclose(breakdown.raw, raw, atol=1e-6)
    np.testing.assert_allclose(got, calibrator(raw, languages), atol=1e-9)
    # mean offsets over bounds (-5, 5): the Swahili offset is -0.05 in [-1, 1] units, German
    # +0.05, so a Swahili answer gains 0.05 reward over a German one of the same raw score
    both = calibrator([raw[0], raw[0]], ["de", "sw"])
    assert both[1] - both[0] == pytest.approx(0.05, abs=1e-9)
