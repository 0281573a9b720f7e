"""Objects from every data-parallel rank, in rank order, on every rank."""

from __future__ import annotations

from typing import Any

__all__ = ["gather_ranks"]


def gather_ranks(accelerator: Any, items: list) -> list:
    """``items`` of every rank concatenated in rank order (one process: ``items`` itself).

    Every rank must call it at the same point; objects travel pickled (accelerate's
    ``gather_object``), so they must pickle.
    """
    if accelerator.num_processes == 1:
        return items
    from accelerate.utils import gather_object

    return gather_object(items)
