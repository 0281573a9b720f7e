"""Language registry and answer-language directives.

A router decides which language each rollout of a prompt should answer in; this
package says what a language *is* (:mod:`~lrpo.languages.registry`: :class:`Language`,
:data:`LANGUAGES`, :func:`get_language`) and rewrites prompts to ask for it
(:mod:`~lrpo.languages.directives`: :func:`apply_directive`).
"""

from .directives import DEFAULT_TAG_TEMPLATE, DirectiveStyle, apply_directive, directive_text
from .registry import (
    LANGUAGES,
    REFERENCE_LANGUAGES,
    Language,
    UnknownLanguageError,
    get_language,
    validate_languages,
)

__all__ = [
    "DEFAULT_TAG_TEMPLATE",
    "LANGUAGES",
    "REFERENCE_LANGUAGES",
    "DirectiveStyle",
    "Language",
    "UnknownLanguageError",
    "apply_directive",
    "directive_text",
    "get_language",
    "validate_languages",
]
