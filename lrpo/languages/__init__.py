"""What a language is (:mod:`~lrpo.languages.registry`), and prompts that ask for it
(:mod:`~lrpo.languages.directives`)."""

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
