"""The router's named tables, and the checks of a saved state made before any of it is loaded.

A damaged or hand-edited state is refused with the field that is wrong: not half loaded, and
not loaded with values routing cannot use (a NaN logit routes every rollout to one language).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .config import MAX_ABS_VALUE

__all__ = [
    "RowTable",
    "check_count",
    "check_counts",
    "check_names",
    "check_numbers",
    "entry",
    "refuse",
]

_FIX = "load a state saved by state_dict(), as it was saved"


def refuse(where: str, problem: str) -> ValueError:
    """The error for a bad field ``where`` of a router state (raise it)."""
    return ValueError(f"router state field {where!r} {problem}; {_FIX}")


def entry(state: Any, key: str, where: str = "") -> Any:
    """``state[key]``, refused when ``state`` is not a mapping or lacks ``key``."""
    path = f"{where}.{key}" if where else key
    if not isinstance(state, Mapping):
        raise refuse(where or "state", f"must be a mapping, got {type(state).__name__}")
    if key not in state:
        raise refuse(path, "is missing")
    return state[key]


def check_count(value: Any, where: str) -> int:
    """A non-negative integer (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise refuse(where, f"must be an integer >= 0, got {value!r}")
    return int(value)


def check_counts(value: Any, where: str, known: tuple[str, ...] | None = None) -> dict[str, int]:
    """A ``{name: count}`` mapping; with ``known``, of some of those names only."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        names = "names" if known is None else f"some of {list(known)}"
        raise refuse(where, f"must map {names} to counts, got {value!r:.80}")
    unknown = sorted(set(value) - set(known)) if known is not None else []
    if unknown:
        raise refuse(where, f"must map some of {list(known)} to counts; unknown names {unknown}")
    return {name: check_count(count, f"{where}.{name}") for name, count in value.items()}


def check_names(value: Any, where: str) -> list[str]:
    """A list of distinct strings."""
    if not isinstance(value, list | tuple) or any(not isinstance(v, str) for v in value):
        raise refuse(where, f"must be a list of strings, got {value!r:.80}")
    duplicated = sorted({name for name in value if value.count(name) > 1})
    if duplicated:
        raise refuse(where, f"must name each row once, duplicated: {duplicated}")
    return list(value)


def check_numbers(
    value: Any,
    shape: tuple[int, ...],
    where: str,
    *,
    integers: bool = False,
    nonnegative: bool = False,
    limit: float = MAX_ABS_VALUE,
) -> np.ndarray:
    """An array of ``shape`` of finite numbers within ``±limit`` (integers, >= 0 if asked)."""
    try:
        array = np.asarray(value, dtype=None if integers else np.float64)
    except (TypeError, ValueError):
        array = None
    if array is not None and array.size == 0 == math.prod(shape):
        array = array.reshape(shape)  # an empty table is saved as []
    if array is None or array.shape != shape:
        got = "ragged or non-numeric values" if array is None else f"shape {array.shape}"
        raise refuse(where, f"must hold numbers of shape {shape}, got {got}")
    if integers:
        if array.size and array.dtype.kind not in "iu":
            raise refuse(where, f"must hold integers, got {array.dtype} values")
        array = array.astype(np.int64)
    if not np.isfinite(array).all() or (np.abs(array) > limit).any():
        bound = "" if limit == np.inf else f" within ±{limit:g}"
        raise refuse(where, f"must hold finite numbers{bound}, got NaN, infinite or huge values")
    if nonnegative and (array < 0).any():
        raise refuse(where, f"must hold numbers >= 0, got {array.min()}")
    return array


class RowTable:
    """Rows keyed by name, each one ``(num_languages,)`` vector per field (``"logits"``, or
    Thompson sampling's means and counts); rows are only appended, so row ids stay stable."""

    def __init__(self, fields: tuple[str, ...], num_languages: int) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.data = {field: np.zeros((0, num_languages)) for field in fields}

    def __len__(self) -> int:
        return len(self.names)

    def add(self, name: str, values: Mapping[str, np.ndarray]) -> int:
        """Append row ``name`` with one vector per field; return its id."""
        if name in self.index:
            raise KeyError(f"row {name!r} exists already")
        for field, matrix in self.data.items():
            self.data[field] = np.vstack([matrix, np.asarray(values[field], dtype=np.float64)])
        self.index[name] = len(self.names)
        self.names.append(name)
        return self.index[name]

    def state_dict(self) -> dict:
        """Plain lists, for JSON and checkpoints."""
        return {"names": list(self.names), **{f: m.tolist() for f, m in self.data.items()}}
