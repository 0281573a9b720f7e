"""Counter-based random numbers: the same (seed, step, key, slot) gives the same draw anywhere.

Routing must agree on every data-parallel rank without communication and resume exactly, so each
draw is a pure function of its coordinates, hashed with SplitMix64 (Steele et al., 2014).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["keys_to_uint64", "uniforms"]

_MASK = 0xFFFFFFFFFFFFFFFF
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
# Array operands as numpy scalars, built once: converting them on every call costs more than
# the arithmetic on a small batch.
_GOLDEN64, _MIX1_64, _MIX2_64 = np.uint64(_GOLDEN), np.uint64(_MIX1), np.uint64(_MIX2)
_SHIFT11, _SHIFT27, _SHIFT30, _SHIFT31 = (np.uint64(n) for n in (11, 27, 30, 31))
_UNIT = 1.0 / (1 << 53)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """One SplitMix64 finalisation of each element (array uint64 arithmetic wraps silently)."""
    z = x + _GOLDEN64
    z = (z ^ (z >> _SHIFT30)) * _MIX1_64
    z = (z ^ (z >> _SHIFT27)) * _MIX2_64
    return z ^ (z >> _SHIFT31)


def _splitmix64_int(x: int) -> int:
    """:func:`_splitmix64` of one Python int: for the per-call head (seed, stream, step), three
    scalars that numpy would hash through 1-element arrays (its scalars warn on overflow)."""
    z = (x + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK
    return z ^ (z >> 31)


@lru_cache(maxsize=64)
def _mixed_counters(num_slots: int, depth: int) -> np.ndarray:
    """The hashed slot counters ``(1, num_slots, depth)``: the same for every call, so cached."""
    counters = np.arange(num_slots * depth, dtype=np.uint64).reshape(1, num_slots, depth)
    mixed = _splitmix64(counters)
    mixed.flags.writeable = False
    return mixed


def keys_to_uint64(keys: Sequence[int | str] | np.ndarray) -> np.ndarray:
    """Map prompt keys to uint64: integers as they are, strings by blake2b (Python's ``hash``
    differs between processes)."""
    keys = list(keys) if not isinstance(keys, np.ndarray) else keys
    if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
        return keys.astype(np.uint64)  # negative keys wrap modulo 2**64
    values = []  # Python ints, converted once: a numpy scalar per key costs more than the hash
    for key in keys:
        if isinstance(key, str):
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            values.append(int.from_bytes(digest, sys.byteorder))  # as the uint64 in memory
        elif isinstance(key, int | np.integer) and not isinstance(key, bool):
            values.append(int(key) & _MASK)
        else:
            raise TypeError(f"routing keys must be int or str, got {type(key).__name__}: {key!r}")
    return np.array(values, dtype=np.uint64)


def uniforms(
    seed: int, step: int, keys: np.ndarray, num_slots: int, stream: int, depth: int = 1
) -> np.ndarray:
    """Uniform draws in [0, 1), shape ``(len(keys), num_slots)`` or ``(..., depth)`` if depth > 1.

    ``stream`` separates independent uses (an exploration coin, a language draw, ...).
    """
    head = _splitmix64_int(seed & _MASK)
    head = _splitmix64_int(head ^ (stream & _MASK))
    head = _splitmix64_int(head ^ (step & _MASK))
    per_key = _splitmix64(np.uint64(head) ^ keys.astype(np.uint64, copy=False))
    bits = _splitmix64(per_key[:, None, None] ^ _mixed_counters(num_slots, depth))
    draws = (bits >> _SHIFT11).astype(np.float64) * _UNIT
    return draws[..., 0] if depth == 1 else draws
