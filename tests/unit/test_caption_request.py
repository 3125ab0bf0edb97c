"""Reading a caption model's answer: every field held to the limits the prompt states."""

from __future__ import annotations

import json

import pytest

from annotation_core.caption_fields import MAX_ALT_TEXT, MAX_TAGS, normalize_tags
from annotation_core.caption_request import (
    CAPTION_SCHEMA,
    InvalidReplyError,
    build_prompt,
    parse_reply,
    prompt_version,
)


def reply(**fields) -> str:
    return json.dumps(
        {"caption": "A cat on a mat.", "alt_text": "Cat on a mat", "tags": ["cat"], "text_in_image": "", **fields}
    )


def test_a_good_answer_is_read_as_is():
    result = parse_reply(reply(text_in_image="  WELCOME  "))
    assert (result.caption, result.alt_text, result.tags, result.text_in_image) == (
        "A cat on a mat.",
        "Cat on a mat",
        ("cat",),
        "WELCOME",
    )


@pytest.mark.parametrize(
    ("alt", "expected"),
    [
        ("Image of a red barn", "A red barn"),
        ("a photo showing two swans", "Two swans"),
        ("Picture of children playing", "Children playing"),
        ("Imagery of nothing in particular", "Imagery of nothing in particular"),
    ],
)
def test_alt_text_never_starts_with_image_of(alt, expected):
    assert parse_reply(reply(alt_text=alt)).alt_text == expected


def test_long_alt_text_is_cut_at_a_word_to_125_characters():
    words = " ".join(["windmill"] * 40)
    alt = parse_reply(reply(alt_text=words)).alt_text
    assert len(alt) <= MAX_ALT_TEXT and alt.endswith("windmill…")


def test_missing_alt_text_falls_back_to_the_caption():
    assert parse_reply(reply(alt_text="")).alt_text == "A cat on a mat."


def test_tags_are_lowercase_unique_and_at_most_ten():
    tags = ["Cat", "cat", "#Pets", "  black   cat ", "", *[f"tag{n}" for n in range(20)]]
    result = parse_reply(reply(tags=tags))
    assert result.tags[:3] == ("cat", "pets", "black cat")
    assert len(result.tags) == MAX_TAGS
    assert normalize_tags(["A", "a", "#a"]) == ("a",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("A cat on a mat.", "not JSON"),
        ("[1, 2]", "not an object"),
        (reply(caption=""), "empty caption"),
        (reply(caption=3), "caption is not a string"),
        (reply(tags="cat, dog"), "tags is not a list"),
        (reply(tags=[1, 2]), "tags is not a list of strings"),
    ],
)
def test_answers_that_break_the_schema_are_refused_with_the_reason(text, reason):
    with pytest.raises(InvalidReplyError, match=reason):
        parse_reply(text)


def test_a_json_answer_in_a_code_fence_is_read():
    assert parse_reply(f"```json\n{reply()}\n```").caption == "A cat on a mat."


def test_the_prompt_names_the_fields_limits_and_language():
    prompt = build_prompt("Describe it.", "ja")
    assert prompt.startswith("Describe it.")
    assert all(name in prompt for name in CAPTION_SCHEMA["properties"])
    assert 'BCP 47 tag is "ja"' in prompt and "125" in prompt


def test_the_prompt_version_follows_the_instructions_not_the_language():
    assert prompt_version("Describe it.") == prompt_version("Describe it.")
    assert len(prompt_version("Describe it.")) == 8
    assert prompt_version("Describe it.") != prompt_version("Describe it briefly.")


def test_the_schema_is_one_strict_structured_outputs_accept():
    assert CAPTION_SCHEMA["additionalProperties"] is False
    assert set(CAPTION_SCHEMA["required"]) == set(CAPTION_SCHEMA["properties"])
