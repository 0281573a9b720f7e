"""Every bad input of the language gate: a clear error naming the field and the fix."""

import numpy as np
import pytest
from pydantic import ValidationError

from lrpo.languages import UnknownLanguageError
from lrpo.rewards import GateConfig, LanguageGate

GERMAN = "Die Antwort ist zweiundvierzig."


@pytest.fixture(scope="module")
def gate() -> LanguageGate:
    return LanguageGate(candidates=("de", "en", "ja"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mode": "fuzzy"}, "mode"),
        ({"backend": "cld3"}, "backend"),
        ({"candidates": ("en", "xx")}, "unknown language code 'xx'"),
        ({"candidates": ("en", "en")}, "duplicate"),
        ({"min_language_share": 1.5}, "less than"),
        ({"min_letter_share": -0.1}, "greater than"),
        ({"colour": "red"}, "Extra inputs"),
        ({"match_reward": 2.0}, "additive. only"),
        ({"margin": -1.0}, "margin"),
        ({"margin": float("nan")}, "margin"),
        ({"window_words": 0}, "window_words"),
        ({"mode": "additive", "match_reward": float("nan")}, "match_reward"),
        ({"mode": "additive", "mismatch_reward": float("-inf")}, "mismatch_reward"),
        ({"model_path": "lid.bin"}, "model_path is for backend='fasttext'"),
        ({"candidates": ("en", "ja"), "script_only": ("ja",)}, "both"),
    ],
)
def test_bad_configuration_is_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        GateConfig(**settings)


def test_bad_construction_is_refused(tmp_path):
    with pytest.raises(ValueError, match="either a GateConfig or keyword"):
        LanguageGate(GateConfig(), mode="soft")
    with pytest.raises(ValueError, match=r"cannot detect \['bo'\]"):
        LanguageGate(candidates=("en", "bo"))
    with pytest.raises(ValueError, match=r"script-only language 'ha' shares script\(s\)"):
        LanguageGate(backend="langid", candidates=("en", "de"), script_only=("ha",))
    with pytest.raises(FileNotFoundError, match=r"nothing\.bin"):
        LanguageGate(backend="fasttext", model_path=str(tmp_path / "nothing.bin"))


@pytest.mark.parametrize(
    ("texts", "error", "message"),
    [
        (None, TypeError, "texts must be a sequence of str"),
        ("Die Antwort", TypeError, "wrap a single answer in a list"),
        ([None], TypeError, r"texts\[0\] must be a str, got NoneType"),
        ([GERMAN, 42], TypeError, r"texts\[1\] must be a str, got int"),
        ([b"bytes"], TypeError, r"texts\[0\] must be a str, got bytes"),
    ],
)
def test_bad_texts_are_refused(gate, texts, error, message):
    with pytest.raises(error, match=message):
        gate.check(texts, "de")
    with pytest.raises(error, match=message):
        gate.identify(texts)


@pytest.mark.parametrize(
    ("requested", "error", "message"),
    [
        (["xx"], UnknownLanguageError, "'xx'"),
        ("EN", UnknownLanguageError, "did you mean 'en'"),
        ("sv", ValueError, "'sv' is neither a candidate"),
        (["de", "en"], ValueError, "1 texts but 2 requested"),
        ([["de"]], TypeError, r"requested\[0\] must be a language code"),
        ([None], TypeError, r"requested\[0\] must be a language code"),
        (5, TypeError, "requested must be a language code or a sequence"),
    ],
)
def test_bad_requested_languages_are_refused(gate, requested, error, message):
    with pytest.raises(error, match=message):
        gate.check([GERMAN], requested)
    assert gate.metric_sums().values["checked"] == 0  # nothing was counted


def test_numpy_inputs_are_accepted(gate):
    result = gate.check(np.array([GERMAN]), np.array(["de"]))
    assert result.passed.tolist() == [True]
