"""Counter-based random numbers: the same (seed, step, key, slot) gives the same draw anywhere.

Routing must agree on every data-parallel rank without communication, and resume exactly from a
checkpoint. A stateful generator cannot promise either, so every draw is a pure function of its
coordinates, hashed with SplitMix64 (Steele et al., 2014) in vectorised uint64 arithmetic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["keys_to_uint64", "uniforms"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """One SplitMix64 finalisation of each element (array uint64 arithmetic wraps silently)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def keys_to_uint64(keys: Sequence[int | str] | np.ndarray) -> np.ndarray:
    """Map prompt keys to uint64: integers as they are, strings by a stable hash.

    Python's ``hash`` of a string differs between processes, so strings go through blake2b.
    """
    keys = list(keys) if not isinstance(keys, np.ndarray) else keys
    if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
        return keys.astype(np.int64).astype(np.uint64)
    out = np.empty(len(keys), dtype=np.uint64)
    for i, key in enumerate(keys):
        if isinstance(key, str):
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            out[i] = np.frombuffer(digest, dtype=np.uint64)[0]
        elif isinstance(key, int | np.integer) and not isinstance(key, bool):
            out[i] = np.uint64(int(key) & 0xFFFFFFFFFFFFFFFF)
        else:
            raise TypeError(f"routing keys must be int or str, got {type(key).__name__}: {key!r}")
    return out


def uniforms(
    seed: int, step: int, keys: np.ndarray, num_slots: int, stream: int, depth: int = 1
) -> np.ndarray:
    """Uniform draws in [0, 1), shape ``(len(keys), num_slots)`` or ``(..., depth)`` if depth > 1.

    ``stream`` separates independent uses (an exploration coin, a language draw, ...).
    """
    head = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    head = _splitmix64(head ^ np.uint64(stream))
    head = _splitmix64(head ^ np.uint64(step & 0xFFFFFFFFFFFFFFFF))
    per_key = _splitmix64(head ^ keys.astype(np.uint64))
    counters = np.arange(num_slots * depth, dtype=np.uint64).reshape(1, num_slots, depth)
    bits = _splitmix64(per_key[:, None, None] ^ _splitmix64(counters))
    draws = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    return draws[..., 0] if depth == 1 else draws
