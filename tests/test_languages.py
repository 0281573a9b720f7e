"""Tests for lrpo.languages: registry, code validation and prompt directives."""

import copy
import dataclasses
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrpo.languages import (
    DEFAULT_TAG_TEMPLATE,
    LANGUAGES,
    REFERENCE_LANGUAGES,
    DirectiveStyle,
    Language,
    UnknownLanguageError,
    apply_directive,
    directive_text,
    get_language,
    validate_languages,
)

# Unicode character-name prefix for each script code used by the registry.
SCRIPT_NAME_PREFIX = {
    "Arab": "ARABIC",
    "Beng": "BENGALI",
    "Cyrl": "CYRILLIC",
    "Deva": "DEVANAGARI",
    "Ethi": "ETHIOPIC",
    "Grek": "GREEK",
    "Hang": "HANGUL",
    "Hani": "CJK UNIFIED IDEOGRAPH",
    "Hebr": "HEBREW",
    "Hira": "HIRAGANA",
    "Kana": "KATAKANA",
    "Latn": "LATIN",
    "Taml": "TAMIL",
    "Telu": "TELUGU",
    "Thai": "THAI",
    "Tibt": "TIBETAN",
}

CURATED = sorted(LANGUAGES)
STYLES = list(DirectiveStyle)
CONVERSATION = [
    {"role": "system", "content": "Put the final answer in \\boxed{}."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
]


# --- registry ---------------------------------------------------------------


def test_registry_covers_reference_arms_and_low_resource_seeds():
    assert set(REFERENCE_LANGUAGES) | {"bo", "sw"} <= set(LANGUAGES)
    assert len(LANGUAGES) >= 32
    assert len(REFERENCE_LANGUAGES) == 15


@pytest.mark.parametrize("code", CURATED)
def test_curated_entry_is_complete(code):
    language = LANGUAGES[code]
    assert language.code == code
    assert language.name and language.native_name and language.native_instruction
    assert language.scripts
    assert all(len(script) == 4 and script.istitle() for script in language.scripts)
    assert get_language(code) is language


@pytest.mark.parametrize("code", CURATED)
def test_native_texts_are_written_in_the_languages_scripts(code):
    language = LANGUAGES[code]
    prefixes = tuple(SCRIPT_NAME_PREFIX[script] for script in language.scripts)
    text = language.native_name + language.native_instruction
    letters = [ch for ch in text if ch.isalpha()]
    assert letters
    assert all(unicodedata.name(ch).startswith(prefixes) for ch in letters), text


@pytest.mark.parametrize(
    ("code", "name", "native_name", "script"),
    [
        ("ja", "Japanese", "日本語", "Hira"),
        ("bo", "Tibetan", "བོད་སྐད་", "Tibt"),
        ("ar", "Arabic", "العربية", "Arab"),
        ("sw", "Swahili", "Kiswahili", "Latn"),
        ("zh", "Chinese", "中文", "Hani"),
        ("ru", "Russian", "русский", "Cyrl"),
    ],
)
def test_names_and_scripts_come_from_langcodes(code, name, native_name, script):
    language = get_language(code)
    assert (language.name, language.native_name) == (name, native_name)
    assert script in language.scripts


def test_multi_script_languages():
    assert set(get_language("ja").scripts) == {"Hira", "Kana", "Hani"}
    assert get_language("ko").scripts == ("Hang",)  # Hani would accept Chinese as Korean
    assert get_language("sr").scripts == ("Cyrl", "Latn")


def test_language_is_frozen_and_registry_read_only():
    with pytest.raises(dataclasses.FrozenInstanceError):
        LANGUAGES["en"].name = "Klingon"
    with pytest.raises(TypeError):
        LANGUAGES["xx"] = LANGUAGES["en"]


def test_uncurated_valid_tag_is_built_on_the_fly():
    gaelic = get_language("gd")
    assert gaelic == Language("gd", "Scottish Gaelic", "Gàidhlig", ("Latn",), None)
    assert "gd" not in LANGUAGES
    assert get_language("zh-Hant").scripts == ("Hani",)


# --- directives ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("tag", "What is 2+2?\n<|out_lang_sw|>"),
        ("english", "What is 2+2?\nAnswer in Swahili."),
        ("native", "What is 2+2?\nJibu kwa Kiswahili."),
        ("system", "You are a helpful assistant. Answer in Swahili.\nWhat is 2+2?"),
    ],
)
def test_plain_prompt_exact_output(style, expected):
    assert apply_directive("What is 2+2?", "sw", style) == expected


def test_default_style_is_the_reference_tag():
    assert apply_directive("Q", "zh") == "Q\n<|out_lang_zh|>"
    assert apply_directive("Q", "zh", DirectiveStyle.TAG) == "Q\n<|out_lang_zh|>"


def test_custom_tag_template():
    assert apply_directive("Q", "bo", tag_template="[lang={code}]") == "Q\n[lang=bo]"


def test_directive_text_per_style():
    assert directive_text("ja") == "<|out_lang_ja|>"
    assert directive_text("ja", "english") == "Answer in Japanese."
    assert directive_text("ja", "native") == "日本語で答えてください。"
    assert directive_text("ja", "system") == "You are a helpful assistant. Answer in Japanese."
    assert directive_text("gd", "english") == "Answer in Scottish Gaelic."


@pytest.mark.parametrize(
    ("style", "last_user"),
    [
        ("tag", "And 3+3?\n<|out_lang_de|>"),
        ("english", "And 3+3?\nAnswer in German."),
        ("native", "And 3+3?\nAntworte auf Deutsch."),
    ],
)
def test_conversation_directive_goes_into_last_user_message(style, last_user):
    original = copy.deepcopy(CONVERSATION)
    result = apply_directive(CONVERSATION, "de", style)
    assert result == [*CONVERSATION[:3], {"role": "user", "content": last_user}]
    assert original == CONVERSATION
    assert all(new is not old for new, old in zip(result, CONVERSATION, strict=True))


def test_system_style_extends_an_existing_system_message():
    original = copy.deepcopy(CONVERSATION)
    result = apply_directive(CONVERSATION, "bo", "system")
    assert result[0] == {
        "role": "system",
        "content": "Put the final answer in \\boxed{}.\nAnswer in Tibetan.",
    }
    assert result[1:] == CONVERSATION[1:]
    assert original == CONVERSATION


def test_system_style_inserts_a_system_message():
    prompt = [{"role": "user", "content": "Hi"}]
    assert apply_directive(prompt, "fr", "system") == [
        {"role": "system", "content": "You are a helpful assistant. Answer in French."},
        {"role": "user", "content": "Hi"},
    ]
    assert prompt == [{"role": "user", "content": "Hi"}]


def test_tuple_conversation_returns_list():
    result = apply_directive(({"role": "user", "content": "Hi"},), "en")
    assert result == [{"role": "user", "content": "Hi\n<|out_lang_en|>"}]


@given(
    prompt=st.text(),
    code=st.sampled_from(CURATED),
    style=st.sampled_from(STYLES),
)
def test_plain_prompt_keeps_text_and_adds_directive(prompt, code, style):
    result = apply_directive(prompt, code, style)
    assert prompt in result
    assert directive_text(code, style) in result
    assert len(result) == len(prompt) + len(directive_text(code, style)) + 1


@given(
    content=st.text(),
    code=st.sampled_from(CURATED),
    style=st.sampled_from(STYLES),
)
def test_conversation_keeps_text_and_adds_directive(content, code, style):
    prompt = [{"role": "user", "content": content}]
    result = apply_directive(prompt, code, style)
    assert prompt == [{"role": "user", "content": content}]
    assert content in result[-1]["content"]
    assert directive_text(code, style) in "".join(m["content"] for m in result)


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize("code", ["xx", "english", "EN ", "", "zz-99", "EN", "iw", "und", "x-foo"])
def test_malformed_or_unknown_code_is_rejected_by_name(code):
    with pytest.raises(UnknownLanguageError, match="unknown language code") as info:
        get_language(code)
    assert repr(code) in str(info.value)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("code", [5, None, b"en", ["en"]])
def test_non_string_code_is_rejected(code):
    with pytest.raises(UnknownLanguageError, match="must be a str") as info:
        get_language(code)
    assert type(code).__name__ in str(info.value)


@pytest.mark.parametrize(
    ("code", "suggestion"),
    [
        ("EN", "en"),
        ("EN ", "en"),
        ("english", "en"),
        ("Swahili", "sw"),
        ("swahli", "sw"),
        ("Tibetan", "bo"),
        ("iw", "he"),
        ("en_US", "en-US"),
    ],
)
def test_rejection_suggests_the_intended_code(code, suggestion):
    with pytest.raises(UnknownLanguageError) as info:
        get_language(code)
    assert suggestion in info.value.suggestions
    assert f"did you mean {suggestion!r}" in str(info.value)


@given(st.text(max_size=20))
def test_any_string_either_resolves_or_raises_unknown_language(code):
    try:
        language = get_language(code)
    except UnknownLanguageError as error:
        assert all(get_language(s).code == s for s in error.suggestions)
    else:
        assert language.code == code


def test_validate_languages_accepts_and_preserves_order():
    assert validate_languages(["sw", "en", "bo"]) == ("sw", "en", "bo")
    assert validate_languages(REFERENCE_LANGUAGES) == REFERENCE_LANGUAGES


@pytest.mark.parametrize(
    ("codes", "error", "message"),
    [
        ([], ValueError, "at least one"),
        ((), ValueError, "at least one"),
        (["en", "sw", "en"], ValueError, r"duplicate language codes \['en'\]"),
        (["en", "xx"], UnknownLanguageError, "'xx'"),
        (["en", "EN"], UnknownLanguageError, "did you mean 'en'"),
        ("en", ValueError, r"wrap it in a list: \['en'\]"),
    ],
)
def test_validate_languages_rejects(codes, error, message):
    with pytest.raises(error, match=message):
        validate_languages(codes)


@pytest.mark.parametrize(
    "prompt",
    [[], [{"role": "system", "content": "s"}], [{"role": "assistant", "content": "a"}]],
)
@pytest.mark.parametrize("style", STYLES)
def test_conversation_without_user_message_is_rejected(prompt, style):
    with pytest.raises(ValueError, match="no 'user' message"):
        apply_directive(prompt, "en", style)


@pytest.mark.parametrize("style", ["TAG", "xml", "", None])
def test_unknown_style_is_rejected(style):
    with pytest.raises(ValueError, match="unknown directive style") as info:
        apply_directive("Q", "en", style)
    assert "'tag', 'english', 'native', 'system'" in str(info.value)


def test_unknown_code_in_directive_is_rejected():
    with pytest.raises(UnknownLanguageError, match=r"'Swahili'.*did you mean 'sw'"):
        apply_directive("Q", "Swahili")


def test_native_style_needs_a_curated_language():
    with pytest.raises(ValueError, match=r"no native instruction for 'gd'.*'english'"):
        apply_directive("Q", "gd", "native")


@pytest.mark.parametrize(
    "template", ["<|out_lang|>", "<{lang}>", "<{code}{}>", "<{code", "{{code}}"]
)
def test_bad_tag_template_is_rejected(template):
    with pytest.raises(ValueError, match="tag_template"):
        apply_directive("Q", "en", tag_template=template)
    assert DEFAULT_TAG_TEMPLATE.format(code="en") == "<|out_lang_en|>"


@pytest.mark.parametrize("prompt", [None, 42, b"Q", ["Q"], {"role": "user", "content": "Q"}])
def test_prompt_of_wrong_type_is_rejected(prompt):
    with pytest.raises(TypeError, match="prompt must be a str or a list"):
        apply_directive(prompt, "en")


def test_non_string_content_is_rejected():
    prompt = [{"role": "user", "content": [{"type": "text", "text": "Q"}]}]
    with pytest.raises(TypeError, match="content is list"):
        apply_directive(prompt, "en")
