"""The packed label: a prompt's language, theme(s), region(s) and reference as one JSON string,
for the one label column OpenRLHF (``--data.label_key``) and verl (``ground_truth``) hand over.

Examples
--------
>>> text = pack_label(language="ja", theme="Regional Knowledge", region="Japan",
...                   reference="富士山です。", group="q-17")
>>> label = unpack_label(text)
>>> label.language, label.themes, label.group
('ja', ('Regional Knowledge',), 'q-17')
>>> unpack_label("Paris")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
lrpo.labelled.labels.LabelError: a label must be the packed JSON of ..., got 'Paris'
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lrpo.languages import get_language
from lrpo.router import RoutingContext

__all__ = ["LabelError", "PackedLabel", "pack_label", "unpack_label"]

_PREVIEW = 80


class LabelError(ValueError):
    """A label that is not lrpo's packed JSON, or carries an invalid field."""


class PackedLabel(BaseModel):
    """What one prompt's label carries.

    ``language`` is the prompt's own; ``requested`` the language asked for when something
    upstream already routed the rollout; ``group`` the router service's group key (default: a
    hash of the prompt); ``route=False`` keeps every rollout in the prompt's language.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str
    themes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    reference: str | None = None
    reference_language: str | None = None
    requested: str | None = None
    group: str | None = Field(None, min_length=1)
    route: bool = True

    @field_validator("language", "reference_language", "requested")
    @classmethod
    def _known_language(cls, code: str | None) -> str | None:
        if code is not None:
            get_language(code)  # raises UnknownLanguageError (a ValueError) with suggestions
        return code

    @property
    def context(self) -> RoutingContext:
        """The prompt as the router sees it."""
        return RoutingContext(self.language, self.themes, self.regions)


def pack_label(
    *,
    language: str,
    theme: str | list[str] | tuple[str, ...] | None = None,
    region: str | list[str] | tuple[str, ...] | None = None,
    **fields: Any,
) -> str:
    """One label string from a prompt's fields (validated now, so bad data fails at prep)."""
    label = _validated(
        {"language": language, "themes": _names(theme), "regions": _names(region), **fields}
    )
    return json.dumps(label.model_dump(exclude_defaults=True), ensure_ascii=False)


def unpack_label(text: Any) -> PackedLabel:
    """Parse a packed label; :class:`LabelError` names what is wrong, with the text's start."""
    if isinstance(text, PackedLabel):
        return text
    if not isinstance(text, str):
        raise LabelError(f"a label must be a string of packed JSON, got {type(text).__name__}")
    try:
        fields = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):  # nested too deep, huge integers
        fields = None
    if not isinstance(fields, dict) or "language" not in fields:
        raise LabelError(
            "a label must be the packed JSON of lrpo.labelled.labels.pack_label (an object "
            f'with at least "language"), got {_preview(text)}'
        )
    return _validated(fields)


def _validated(fields: dict[str, Any]) -> PackedLabel:
    try:
        return PackedLabel.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'label'}: {e['msg']}" for e in error.errors()
        )
        raise LabelError(f"invalid packed label ({problems})") from None


def _names(raw: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    return (raw,) if isinstance(raw, str) else tuple(raw)


def _preview(text: str) -> str:
    return repr(text if len(text) <= _PREVIEW else text[:_PREVIEW] + "...")
