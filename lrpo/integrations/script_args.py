"""Command lines of the runnable scripts in ``integrations/``: one flag per field of a dataclass."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

__all__ = ["parse_dataclass_args"]

ArgsT = TypeVar("ArgsT")


def parse_dataclass_args(
    args_class: type[ArgsT], argv: list[str] | None, description: str
) -> ArgsT:
    """``--some-field`` for each field, typed by its default (booleans are switches).

    Examples
    --------
    >>> @dataclasses.dataclass
    ... class Args:
    ...     steps: int = 2
    ...     tiny: bool = False
    ...     model: str = "x"
    >>> parse_dataclass_args(Args, ["--steps", "5", "--tiny"], "demo")
    Args(steps=5, tiny=True, model='x')
    """
    parser = argparse.ArgumentParser(description=description)
    for field in dataclasses.fields(args_class):
        default: Any = field.default
        flag = "--" + field.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            kind = type(default) if isinstance(default, int | float) else str
            parser.add_argument(flag, type=kind, default=default)
    return args_class(**vars(parser.parse_args(argv)))
