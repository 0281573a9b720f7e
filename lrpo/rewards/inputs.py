"""What the semantic reward reads from TRL's inputs: texts of chats, columns, per-item lists.

TRL hands a reward function strings or chat message lists, and the dataset's columns as
keyword arguments; these helpers turn them into one value per completion, or a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["broadcast", "column", "message_text"]


def _content_text(content: Any) -> str | None:
    """Text of a message's content: a str, or a list of parts with ``{"type": "text"}``."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes):
        parts = [
            part.get("text")
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return "".join(parts) if parts else None
    return None


def message_text(item: Any, roles: tuple[str, ...] = ("assistant",)) -> str | None:
    """The text of a completion or prompt: a str as is, or the ``roles`` turns of a chat.

    TRL's conversational completions are ``[{"role": "assistant", "content": "..."}]``;
    several matching turns are joined with a newline. Anything else (None, a number, a chat
    without such a turn) gives None.

    Examples
    --------
    >>> message_text([{"role": "assistant", "content": "Jambo"}])
    'Jambo'
    >>> message_text([{"role": "user", "content": "Hi"}], roles=("user",))
    'Hi'
    >>> message_text(None) is None, message_text([{"role": "user", "content": "Hi"}]) is None
    (True, True)
    """
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        item = [item]
    if not isinstance(item, Sequence) or isinstance(item, bytes):
        return None
    texts = []
    for message in item:
        if isinstance(message, Mapping) and message.get("role") in roles:
            text = _content_text(message.get("content"))
            if text is not None:
                texts.append(text)
    return "\n".join(texts) if texts else None


def broadcast(values: Any, n: int, name: str) -> list | None:
    """A per-item list of length ``n`` (a str is repeated), or None.

    Raises
    ------
    TypeError
        When ``values`` is not a sequence.
    ValueError
        When it does not hold one item per completion.

    Examples
    --------
    >>> broadcast("de", 2, "languages"), broadcast(None, 2, "prompts")
    (['de', 'de'], None)
    """
    if values is None:
        return None
    if isinstance(values, str):
        return [values] * n
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence, got {type(values).__name__}") from None
    if len(items) != n:
        raise ValueError(
            f"{name} has {len(items)} items for {n} completions; give one per completion (in "
            "the same order)"
        )
    return items


def column(
    kwargs: Mapping[str, Any], names: tuple[str, ...], what: str, *, required: bool = True
) -> Any:
    """The first of the ``names`` columns present in a reward function's ``kwargs``.

    Raises
    ------
    ValueError
        When none is present and the column is ``required``.
    """
    for name in names:
        if name in kwargs:
            return kwargs[name]
    if required:
        raise ValueError(
            f"no {what} column among the reward-function kwargs: looked for {list(names)}, "
            f"got {sorted(kwargs)}; add the column to the dataset or set the column names "
            "in SemanticRewardConfig"
        )
    return None
