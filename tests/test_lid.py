"""Tests for lrpo.rewards.lid with the real backends and models (no mocks)."""

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpo.rewards import BACKENDS, backend_languages, make_backend, shipped_fasttext_model
from lrpo.rewards.lid import _to_lrpo

SAMPLES = {
    "de": "Die Antwort ist zweiundvierzig, weil wir zuerst die Äpfel zählen.",
    "en": "The answer is forty-two because we first count the apples.",
    "ja": "これはとてもおいしいりんごです。わたしはまいにちたべます。",
    "ru": "Это правильный ответ на вопрос, и мы его проверили.",
}


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_scores_every_candidate_and_ranks_the_right_one_first(name):
    backend = make_backend(name, list(SAMPLES))
    assert backend.languages == tuple(SAMPLES)
    assert backend.margin > 0
    scores = backend.scores(list(SAMPLES.values()))
    assert scores.shape == (4, 4) and np.isfinite(scores).all()
    assert [backend.languages[i] for i in scores.argmax(axis=1)] == list(SAMPLES)


@pytest.mark.parametrize("name", BACKENDS)
def test_candidates_a_backend_cannot_detect_are_named(name):
    with pytest.raises(ValueError, match=r"cannot detect \['tl'\]"):  # none has Tagalog
        make_backend(name, ["en", "tl", "de"])


def test_labels_of_every_model_map_to_lrpo_codes():
    assert _to_lrpo("__label__de") == "de"
    assert _to_lrpo("deu_Latn") == "de"  # GlotLID
    assert _to_lrpo("cmn") == "zh"
    assert _to_lrpo("zxx") is None
    assert {"de", "en", "zh", "ja"} <= set(backend_languages("fasttext"))


def test_a_fasttext_model_is_loaded_by_path(tmp_path):
    copy = tmp_path / "my-lid.ftz"
    shutil.copy(shipped_fasttext_model(), copy)
    by_path = make_backend("fasttext", ["de", "en"], model_path=copy)
    shipped = make_backend("fasttext", ["de", "en"])
    assert by_path.model_path == copy
    texts = [SAMPLES["de"], SAMPLES["en"]]
    np.testing.assert_array_equal(by_path.scores(texts), shipped.scores(texts))
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        make_backend("fasttext", ["de"], model_path=tmp_path / "missing.bin")
    with pytest.raises(ValueError, match="model_path is for the 'fasttext' backend"):
        make_backend("py3langid", ["de"], model_path=copy)


def test_unknown_backends_are_refused():
    with pytest.raises(ValueError, match="unknown backend 'cld3'"):
        make_backend("cld3", ["en"])
    with pytest.raises(ValueError, match="unknown backend 'cld3'"):
        backend_languages("cld3")
    with pytest.raises(ValueError, match="at least two candidates"):
        make_backend("lingua", ["en"])


@pytest.fixture(scope="module")
def backends():
    return [make_backend(name, ["de", "en", "zh"]) for name in BACKENDS]


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.text(max_size=40), max_size=5))
def test_scores_are_finite_and_one_row_per_text(backends, texts):
    for backend in backends:
        scores = backend.scores(texts)
        assert scores.shape == (len(texts), 3) and np.isfinite(scores).all()
