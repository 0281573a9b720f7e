"""Named rows of per-language parameters: the theme x language and region x language tables."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .state import check_names, check_numbers, entry

__all__ = ["RowTable"]


class RowTable:
    """Rows keyed by name, each holding one ``(num_languages,)`` vector per field.

    A learned router keeps its logits here (field ``"logits"``); Thompson sampling adds posterior
    means and counts. Rows are only ever appended, so row ids stay stable.
    """

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

    @classmethod
    def from_state(
        cls,
        state: Mapping,
        fields: tuple[str, ...],
        num_languages: int,
        *,
        where: str,
        nonnegative: tuple[str, ...] = (),
    ) -> RowTable:
        """Rows saved by :meth:`state_dict`, checked (``where`` names them in errors)."""
        table = cls(fields, num_languages)
        table.names = check_names(entry(state, "names", where), f"{where}.names")
        table.index = {name: i for i, name in enumerate(table.names)}
        shape = (len(table.names), num_languages)
        for field in fields:
            table.data[field] = check_numbers(
                entry(state, field, where),
                shape,
                f"{where}.{field}",
                nonnegative=field in nonnegative,
            )
        return table
