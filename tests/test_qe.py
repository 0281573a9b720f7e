"""MetricXScorer on a tiny random mT5 built here (nothing is downloaded): MetricX's QE input
text, the score token's logit after one decoder step, clipping, batching, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lrpo.metrics import MetricSums  # noqa: E402
from lrpo.rewards import METRICX_SCORE_TOKEN, MetricXScorer, qe_metrics  # noqa: E402

PAIRS = [
    ("The cat sleeps on the mat.", "Die Katze schläft auf der Matte."),
    ("Two plus three is five.", "Zwei plus drei ist fünf."),
    ("二足す三は何ですか。", "Mbili jumlisha tatu ni ngapi?"),
    ("The cat sleeps.", "The cat sleeps. The cat sleeps. The cat sleeps. The cat sleeps."),
    ("", ""),
    ("Hello!", "🙂🙂 Hallo 🎉"),
]
#: Scores of one pair in batches of different padding differ by the reduction order of float32
#: matrix products and by the masked (not absent) padding in the encoder's softmax. Measured:
#: 1e-6 between batch sizes, 2e-6 against the unpadded full forward, on scores near 14 where one
#: float32 step is 1e-6; 1e-5 (ten steps) leaves a 5x margin and is far below the 4e-2 gaps
#: between the scores of different pairs of this model.
BATCH_ATOL = 1e-5
D_MODEL = 16


def tiny_mt5_tokenizer():
    """A BPE tokenizer with mT5's special-token layout: pad 0, ``</s>`` 1 appended to every
    text, unk 2, and ``<extra_id_10>`` (the score token) 3."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "</s>", "<unk>", "<extra_id_10>"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(
        [f"source: {s} candidate: {h}" for s, h in PAIRS], trainer=trainer
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def metricx_input(tokenizer, source: str, hypothesis: str) -> list[int]:
    """MetricX-24's QE input ids, written out: the text, tokenised, the final ``</s>`` dropped."""
    ids = tokenizer(f"source: {source} candidate: {hypothesis}")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id
    return ids[:-1]


def reference_scores(model, token: int, inputs: list[list[int]]) -> np.ndarray:
    """The score as MetricX reads it, one pair at a time through transformers' full forward:
    the logit of ``token`` at the first decoder step (from token 0), clipped to [0, 25]."""
    scores = []
    for ids in inputs:
        ids = torch.tensor([ids])
        with torch.inference_mode():
            logits = model(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                decoder_input_ids=torch.zeros(1, 1, dtype=torch.long),
            ).logits
        scores.append(logits[0, 0, token].item())
    return np.clip(scores, 0.0, 25.0)


def tiny_metricx(seed: int = 0):
    """A random 2-layer mT5 (d_model 16) with its own lm_head (untied, as MetricX's), whose
    score-token row is the mean first-step decoder state of PAIRS: the raw scores then sit near
    ``|state|^2`` (about d_model, the final RMS norm's scale), inside [0, 25], not clipped."""
    tokenizer = tiny_mt5_tokenizer()
    config = transformers.MT5Config(
        vocab_size=len(tokenizer),
        d_model=D_MODEL,
        d_kv=8,
        d_ff=32,
        num_layers=2,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    torch.manual_seed(seed)
    model = transformers.MT5ForConditionalGeneration(config).eval()
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    states = []
    for source, hypothesis in PAIRS:
        ids = torch.tensor([metricx_input(tokenizer, source, hypothesis)])
        with torch.inference_mode():
            start = torch.zeros(1, 1, dtype=torch.long)
            out = model(input_ids=ids, decoder_input_ids=start, output_hidden_states=True)
        states.append(out.decoder_hidden_states[-1][0, 0])
    with torch.no_grad():
        model.lm_head.weight[score_token(tokenizer)] = torch.stack(states).mean(0)
    return model, tokenizer


def score_token(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids("<extra_id_10>")


@pytest.fixture(scope="module")
def tiny():
    return tiny_metricx()


@pytest.fixture
def scorer(tiny):
    model, tokenizer = tiny
    return MetricXScorer(model, tokenizer, batch_size=4, score_token=score_token(tokenizer))


def test_the_score_is_the_score_token_logit_of_metricx_qe_input(tiny, scorer):
    model, tokenizer = tiny
    inputs = [metricx_input(tokenizer, s, h) for s, h in PAIRS]
    expected = reference_scores(model, scorer.score_token, inputs)
    assert ((expected > 0.5) & (expected < 24.5)).all()  # nothing clipped: a real comparison
    assert np.diff(np.sort(expected)).min() > 1e-3  # pairs are told apart
    got = scorer.score(*zip(*PAIRS, strict=True))  # 4 + 2: two padded batches
    assert got.dtype == np.float64 and got.shape == (len(PAIRS),)
    np.testing.assert_allclose(got, expected, rtol=0, atol=BATCH_ATOL)
    # Another input text (the reference-based layout, or source and candidate swapped) is
    # another score: the format is what is tested.
    swapped = reference_scores(
        model, scorer.score_token, [metricx_input(tokenizer, *PAIRS[0][::-1])]
    )
    assert abs(swapped[0] - got[0]) > 1e-3


def test_batching_gives_the_one_by_one_scores(tiny):
    model, tokenizer = tiny
    token = score_token(tokenizer)
    sources, hypotheses = zip(*PAIRS, strict=True)
    alone = MetricXScorer(model, tokenizer, batch_size=1, score_token=token)
    together = MetricXScorer(model, tokenizer, batch_size=len(PAIRS), score_token=token)
    np.testing.assert_allclose(
        together.score(sources, hypotheses),
        alone.score(sources, hypotheses),
        rtol=0,
        atol=BATCH_ATOL,
    )


@pytest.mark.parametrize(("scale", "bound"), [(100.0, 25.0), (-100.0, 0.0)])
def test_scores_are_clipped_to_metricx_range(scale, bound):
    model, tokenizer = tiny_metricx()
    token = score_token(tokenizer)
    with torch.no_grad():
        model.lm_head.weight[token] *= scale
    scores = MetricXScorer(model, tokenizer, score_token=token).score(*zip(*PAIRS, strict=True))
    assert scores.tolist() == [bound] * len(PAIRS)


def test_long_inputs_are_cut_as_metricx_cuts_them(tiny):
    model, tokenizer = tiny
    token = score_token(tokenizer)
    scorer = MetricXScorer(model, tokenizer, max_length=8, score_token=token)
    long_pair, short_pair = PAIRS[3], ("Hi", "Ha")
    assert (
        len(metricx_input(tokenizer, *long_pair)) > 8 > len(metricx_input(tokenizer, *short_pair))
    )
    # MetricX: truncate to 8 tokens, </s> kept last, then drop it: the first 7 text tokens.
    cut = tokenizer(f"source: {long_pair[0]} candidate: {long_pair[1]}")["input_ids"][:7]
    expected = reference_scores(model, token, [cut, metricx_input(tokenizer, *short_pair)])
    got = scorer.score([long_pair[0], short_pair[0]], [long_pair[1], short_pair[1]])
    np.testing.assert_allclose(got, expected, rtol=0, atol=BATCH_ATOL)
    assert scorer.metric_sums().values["truncated"] == 1
    # A megabyte hypothesis is cut in characters first, and still scored.
    assert np.isfinite(scorer.score(["Hi"], ["Die Katze schläft. " * 50_000]))[0]
    assert scorer.metric_sums().values["truncated"] == 2


def test_bad_items_give_nan_or_are_repaired(tiny, scorer):
    model, tokenizer = tiny
    scorer.metric_sums(reset=True)
    scores = scorer.score(
        ["The cat.", None, "The cat.", "Die \ud800 Katze."], [None, "Die Katze.", 7, "Hallo"]
    )
    assert np.isnan(scores[:3]).all()
    expected = reference_scores(
        model, scorer.score_token, [metricx_input(tokenizer, "Die \ufffd Katze.", "Hallo")]
    )
    np.testing.assert_allclose(scores[3], expected[0], atol=BATCH_ATOL)
    counts = scorer.metric_sums().values
    assert (counts["items"], counts["invalid"], counts["repaired"], counts["scored"]) == (
        4,
        3,
        1,
        1,
    )


def test_a_non_finite_model_output_is_nan_and_counted():
    model, tokenizer = tiny_metricx()
    token = score_token(tokenizer)
    with torch.no_grad():
        model.lm_head.weight[token] = math.nan
    scorer = MetricXScorer(model, tokenizer, score_token=token)
    assert np.isnan(scorer.score(["The cat."], ["Die Katze."])).all()
    metrics = scorer.metric_sums().metrics()
    assert metrics["qe/nan_rate"] == 1.0 and math.isnan(metrics["qe/mean_score"])


def test_metric_sums_derive_rates_merge_and_reset(scorer):
    scorer.metric_sums(reset=True)
    scores = scorer.score(
        ["The cat.", "The dog.", None, "x"], ["Die Katze.", "Der Hund.", "y", "z"]
    )
    sums = scorer.metric_sums(reset=True)
    assert isinstance(sums, MetricSums) and sums.derive is qe_metrics
    metrics = sums.metrics()
    assert metrics["qe/items"] == 4.0
    assert metrics["qe/invalid_rate"] == 0.25
    assert metrics["qe/mean_score"] == pytest.approx(np.nanmean(scores))
    assert MetricSums.merge([sums, sums]).metrics() == pytest.approx(metrics | {"qe/items": 8.0})
    assert math.isnan(scorer.metric_sums().metrics()["qe/mean_score"])  # reset worked


def test_a_saved_checkpoint_loads_with_its_own_lm_head(tmp_path, tiny, scorer):
    """transformers forces tie_word_embeddings on MT5 configs; a checkpoint whose lm_head
    differs from its embeddings (MetricX's) must keep that lm_head when loaded."""
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = MetricXScorer.from_pretrained(
        tmp_path, tokenizer=tmp_path, device="cpu", score_token=scorer.score_token
    )
    assert not torch.equal(loaded.model.lm_head.weight, loaded.model.shared.weight)
    sources, hypotheses = zip(*PAIRS, strict=True)
    np.testing.assert_allclose(
        loaded.score(sources, hypotheses), scorer.score(sources, hypotheses), atol=BATCH_ATOL
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), max_size=6))
def test_any_strings_give_one_clipped_score_each(scorer, pairs):
    sources, hypotheses = [p[0] for p in pairs], [p[1] for p in pairs]
    scores = scorer.score(sources, hypotheses)
    assert scores.shape == (len(pairs),)
    assert ((scores >= 0) & (scores <= 25)).all()


def test_the_default_score_token_is_metricx_extra_id_10():
    assert METRICX_SCORE_TOKEN == 250089


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_length": 1}, ValueError, "max_length"),
        ({"score_token": 10**6}, ValueError, "score_token must be a vocabulary id below"),
        ({}, ValueError, "score_token must be a vocabulary id"),  # 250089 > tiny vocabulary
    ],
)
def test_bad_construction_is_refused(tiny, options, error, message):
    model, tokenizer = tiny
    options = {"score_token": score_token(tokenizer)} | options if options else {}
    with pytest.raises(error, match=message):
        MetricXScorer(model, tokenizer, **options)


def test_a_model_without_a_decoder_head_is_refused(tiny):
    _, tokenizer = tiny
    encoder = transformers.MT5EncoderModel(transformers.MT5Config(vocab_size=16, d_model=8))
    with pytest.raises(TypeError, match="MT5ForConditionalGeneration"):
        MetricXScorer(encoder, tokenizer)


def test_a_missing_checkpoint_names_the_fix(tmp_path):
    with pytest.raises(OSError, match="pass a loaded model and tokenizer"):
        MetricXScorer.from_pretrained(tmp_path / "missing", tokenizer=tmp_path / "missing")


@pytest.mark.parametrize(
    ("sources", "hypotheses", "error", "message"),
    [
        ("The cat.", ["Die Katze."], TypeError, "got a str"),
        (["The cat."], ["Die Katze.", "x"], ValueError, "1 sources and 2 hypotheses"),
    ],
)
def test_bad_calls_are_refused(scorer, sources, hypotheses, error, message):
    with pytest.raises(error, match=message):
        scorer.score(sources, hypotheses)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_scores(scorer):
    model, tokenizer = tiny_metricx()
    on_gpu = MetricXScorer(model, tokenizer, device="cuda", score_token=scorer.score_token)
    sources, hypotheses = zip(*PAIRS, strict=True)
    np.testing.assert_allclose(
        on_gpu.score(sources, hypotheses), scorer.score(sources, hypotheses), atol=1e-4
    )


def test_as_a_reward_function_it_gives_minus_qe_against_the_source_column(scorer):
    """TRL's shape (best-of-n, a TRL reward): -QE, higher is better; the ``source`` column wins
    over the prompt, and chat messages give their text."""
    sources, hypotheses = (list(x) for x in zip(*PAIRS, strict=True))
    expected = -scorer.score(sources, hypotheses)
    chats = [[{"role": "assistant", "content": h}] for h in hypotheses]
    np.testing.assert_allclose(scorer(sources, hypotheses), expected, atol=1e-6)
    np.testing.assert_allclose(
        scorer(["ignored"] * len(PAIRS), chats, source=sources), expected, atol=1e-6
    )
    prompts = [[{"role": "user", "content": s}] for s in sources]
    np.testing.assert_allclose(scorer(prompts, hypotheses), expected, atol=1e-6)
