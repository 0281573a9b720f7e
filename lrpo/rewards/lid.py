"""Language-identification backends for :class:`~lrpo.rewards.LanguageGate`, batched.

A backend is anything with ``languages`` (the lrpo codes it can detect) and
``detect(texts) -> (codes, confidences)`` over a whole batch (:class:`LidBackend`).
Three are provided, each imported only when built:

* ``py3langid`` (default; the ``lid`` extra): a byte n-gram naive Bayes model of
  140 languages. Confidences are its normalised probabilities, which it softens
  with a temperature of sqrt(bytes) so that they stay calibrated across lengths.
* ``langid``: the original langid.py (97 languages, same model family). Its
  normalised probabilities are a plain softmax of log-likelihoods, so they are
  almost always 1.0: treat them as labels, not as confidences.
* ``lingua``: lingua-language-detector (75 languages, Rust), slower but more
  accurate on short texts; used as a second opinion (``GateConfig.fallback_backend``).

The two naive Bayes backends are run batched: the byte automaton of the model is
stepped for every text of the batch at once with numpy (texts sorted by length,
so the active texts are a prefix), features are counted with one sparse product
and scored with another. This reads the models' arrays (attributes of
``LanguageIdentifier`` in py3langid 0.4 and langid 1.1); if they are missing, the
backend falls back to the library's own per-text ``classify`` (same answers,
checked in the tests).
"""

from __future__ import annotations

import copy
import functools
import unicodedata
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import sparse

from lrpo.languages import UnknownLanguageError, get_language

__all__ = ["BACKENDS", "LidBackend", "backend_languages", "make_backend"]

#: Names accepted by :func:`make_backend`.
BACKENDS = ("py3langid", "langid", "lingua")

_CHUNK = 256  # texts per automaton walk (bounds the (texts x bytes) state matrix)


@runtime_checkable
class LidBackend(Protocol):
    """What the gate needs from a language identifier."""

    name: str
    languages: tuple[str, ...]

    def detect(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return the top-1 lrpo code (object array) and its confidence (float) per text."""
        ...


def _to_lrpo(code: str) -> str | None:
    """The lrpo code for a backend label, or ``None`` if lrpo does not know it (e.g. ``zxx``)."""
    try:
        return get_language(code).code
    except UnknownLanguageError:
        return None


def _import_error(name: str, package: str) -> ImportError:
    return ImportError(
        f"backend {name!r} needs the package {package!r}: pip install {package} "
        "(or pip install 'lrpo[lid]' for the default backend)"
    )


def _load_identifier(name: str):
    """A private ``LanguageIdentifier`` of the py3langid or langid package.

    ``set_languages`` rebinds its arrays rather than writing into them, so a shallow
    copy of one cached model is independent of the others.
    """
    return copy.copy(_load_model(name))


@functools.cache
def _load_model(name: str):
    if name == "py3langid":
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
        except ImportError:
            raise _import_error(name, "py3langid") from None
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    try:
        from langid.langid import LanguageIdentifier, model
    except ImportError:
        raise _import_error(name, "langid") from None
    return LanguageIdentifier.from_modelstring(model, norm_probs=True)


def _lingua_languages() -> dict[str, object]:
    try:
        import lingua
    except ImportError:
        raise _import_error("lingua", "lingua-language-detector") from None
    return {
        code: language
        for language in lingua.Language.all()
        if (code := _to_lrpo(language.iso_code_639_1.name.lower())) is not None
    }


@functools.cache
def backend_languages(name: str) -> tuple[str, ...]:
    """Return the lrpo codes a backend can detect, sorted.

    Examples
    --------
    >>> "bo" in backend_languages("py3langid"), "de" in backend_languages("py3langid")
    (False, True)
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "lingua":
        return tuple(sorted(_lingua_languages()))
    labels = dict.fromkeys(_load_identifier(name).nb_classes)
    return tuple(sorted({code for label in labels if (code := _to_lrpo(label)) is not None}))


class _NaiveBayesBackend:
    """py3langid or langid restricted to ``candidates``, detecting a batch at once."""

    def __init__(self, name: str, candidates: Sequence[str], *, vectorized: bool = True) -> None:
        self.name = name
        self._identifier = ident = _load_identifier(name)
        by_code = {code: label for label in ident.nb_classes if (code := _to_lrpo(label))}
        ident.set_languages([by_code[code] for code in candidates])
        columns = [_to_lrpo(label) for label in ident.nb_classes]
        self.languages = tuple(dict.fromkeys(columns))
        self._labels = np.array(self.languages, dtype=object)
        # aliased columns (py3langid's srl -> sr) fold into one label
        self._fold = np.zeros((len(columns), len(self.languages)), dtype=np.float32)
        self._fold[np.arange(len(columns)), [self.languages.index(c) for c in columns]] = 1.0
        self._py3 = name == "py3langid"
        self._vectorized = vectorized and self._prepare()

    def _prepare(self) -> bool:
        """Read the model arrays for the batched path; False if this version lacks them."""
        ident = self._identifier
        try:
            self._nextmove = np.asarray(ident.tk_nextmove, dtype=np.int64)
            if self._py3:
                self._rowbase = np.asarray(ident.tk_row, dtype=np.int64) << 8
                emits = np.asarray(ident.tk_output, dtype=np.int64)
                states = np.flatnonzero(emits >= 0)
                features = emits[states]
                n_states = len(emits)
            else:
                n_states = len(self._nextmove) >> 8
                self._rowbase = np.arange(n_states, dtype=np.int64) << 8
                pairs = [(s, f) for s, fs in ident.tk_output.items() for f in fs]
                states, features = np.array(pairs, dtype=np.int64).T
            n_features = ident.nb_ptc.shape[0]
            self._emit = sparse.csr_matrix(
                (np.ones(len(states), np.float32), (states, features)),
                shape=(n_states, n_features),
            )
            self._ptc = np.ascontiguousarray(ident.nb_ptc, dtype=np.float32)
            self._pc = np.asarray(ident.nb_pc, dtype=np.float32)
        except (AttributeError, TypeError, ValueError):
            return False
        return True

    def _encode(self, text: str) -> bytes:
        if self._py3:  # py3langid's own normalisation
            text = unicodedata.normalize("NFC", text.lower() if text.isupper() else text)
            return text.encode("utf8", errors="surrogatepass")
        return text.encode("utf8")

    def _walk(self, data: list[bytes]) -> tuple[sparse.csr_matrix, np.ndarray]:
        """Feature counts (texts x features) of the byte automaton, and the byte lengths."""
        lengths = np.fromiter(map(len, data), dtype=np.int64, count=len(data))
        order = np.argsort(-lengths, kind="stable")
        longest = int(lengths.max(initial=0))
        matrix = np.zeros((len(data), longest), dtype=np.int64)
        flat = np.frombuffer(b"".join(data[i] for i in order), dtype=np.uint8)
        sorted_lengths = lengths[order]
        mask = np.arange(longest) < sorted_lengths[:, None]
        matrix[mask] = flat
        active = np.searchsorted(-sorted_lengths, -np.arange(longest), side="left")
        states = np.zeros((len(data), longest), dtype=np.int64)
        state = np.zeros(len(data), dtype=np.int64)
        for t in range(longest):
            n = active[t]
            state[:n] = self._nextmove[self._rowbase[state[:n]] + matrix[:n, t]]
            states[:n, t] = state[:n]
        rows = np.broadcast_to(order[:, None], states.shape)[mask]
        visits = sparse.csr_matrix(
            (np.ones(rows.size, np.float32), (rows, states[mask])),
            shape=(len(data), self._emit.shape[0]),
        )
        return visits @ self._emit, lengths

    def _probabilities(self, texts: Sequence[str]) -> np.ndarray:
        data = [self._encode(text) for text in texts]
        counts, lengths = self._walk(data)
        counts.sum_duplicates()
        if self._py3:
            counts.data = np.log1p(counts.data)
        scores = np.asarray(counts @ self._ptc) + self._pc
        if self._py3:
            scores[np.diff(counts.indptr) == 0] = 0.0  # featureless: uniform, as py3langid
            scores /= np.sqrt(np.maximum(lengths, 1))[:, None]
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        return scores @ self._fold

    def detect(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Top-1 lrpo code and its probability for every text."""
        if not texts:
            return np.empty(0, dtype=object), np.empty(0)
        if not self._vectorized:
            pairs = [self._identifier.classify(text) for text in texts]
            codes = np.array([_to_lrpo(label) for label, _ in pairs], dtype=object)
            return codes, np.array([conf for _, conf in pairs], dtype=float)
        probs = np.concatenate(
            [self._probabilities(texts[i : i + _CHUNK]) for i in range(0, len(texts), _CHUNK)]
        )
        best = probs.argmax(axis=1)
        return self._labels[best], probs[np.arange(len(best)), best].astype(float)


class _LinguaBackend:
    """lingua-language-detector restricted to ``candidates`` (its own parallel batch API)."""

    def __init__(self, candidates: Sequence[str]) -> None:
        from lingua import LanguageDetectorBuilder

        self.name = "lingua"
        by_code = _lingua_languages()
        self.languages = tuple(candidates)
        self._code = {by_code[code]: code for code in candidates}
        self._detector = LanguageDetectorBuilder.from_languages(*self._code).build()

    def detect(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Top-1 lrpo code and lingua's confidence; ``None`` where lingua abstains."""
        ranked = self._detector.compute_language_confidence_values_in_parallel(list(texts))
        codes = np.array([self._code[r[0].language] if r else None for r in ranked], object)
        return codes, np.array([r[0].value if r else 0.0 for r in ranked], dtype=float)


def make_backend(name: str, candidates: Sequence[str]) -> LidBackend:
    """Build a backend that chooses among ``candidates`` (lrpo codes).

    Raises
    ------
    ValueError
        For an unknown backend name, or candidates the backend cannot detect
        (all of them are named), or fewer than two candidates for ``lingua``.
    ImportError
        If the backend's package is not installed (the message says what to install).

    Examples
    --------
    >>> backend = make_backend("py3langid", ["de", "en", "fr"])
    >>> codes, confidences = backend.detect(["Guten Morgen, wie geht es dir heute?"])
    >>> codes.tolist()
    ['de']
    """
    supported = set(backend_languages(name))
    missing = [code for code in candidates if code not in supported]
    if missing:
        raise ValueError(
            f"backend {name!r} cannot detect {missing}; drop them from candidates, gate them by "
            "script alone (script_only=...) if no candidate shares their script, or choose "
            f"another backend ({', '.join(b for b in BACKENDS if b != name)})"
        )
    if name == "lingua":
        if len(candidates) < 2:
            raise ValueError(f"lingua needs at least two candidates, got {list(candidates)}")
        return _LinguaBackend(candidates)
    return _NaiveBayesBackend(name, candidates)
