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


def test_alt_text_of_exactly_125_characters_is_kept_whole():
    alt = "A" + "b" * (MAX_ALT_TEXT - 1)
    assert parse_reply(reply(alt_text=alt)).alt_text == alt


def test_a_cut_alt_text_keeps_every_whole_word_that_fits_before_the_ellipsis():
    alt = "Twelve" + " windmill" * 30  # words end at the 123rd character; the next one would pass 125
    assert parse_reply(reply(alt_text=alt)).alt_text == alt[:123] + "…"


def test_a_cut_alt_text_ends_on_a_whole_word_without_trailing_punctuation():
    board = "Departure board listing flights to " + ", ".join(["LAX"] * 40)
    alt = parse_reply(reply(alt_text=board)).alt_text
    assert alt.endswith(", LAX…") and len(alt) <= MAX_ALT_TEXT
    assert board.startswith(alt.removesuffix("…"))


def test_missing_alt_text_falls_back_to_the_caption():
    assert parse_reply(reply(alt_text="")).alt_text == "A cat on a mat."


def test_tags_are_lowercase_unique_and_at_most_ten():
    tags = ["Cat", "cat", "#Pets", "  black   cat ", "", *[f"tag{n}" for n in range(20)]]
    result = parse_reply(reply(tags=tags))
    assert result.tags[:3] == ("cat", "pets", "black cat")
    assert len(result.tags) == MAX_TAGS
    assert normalize_tags(["A", "a", "#a"]) == ("a",)


def test_only_the_hash_sign_is_taken_off_the_front_of_a_tag():
    assert normalize_tags(["#Xmas", "XL", "##x-ray"]) == ("xmas", "xl", "x-ray")


def test_fields_a_model_left_out_are_empty_or_fall_back():
    answer = json.dumps({"caption": "A cat on a mat."})
    result = parse_reply(answer)
    assert (result.alt_text, result.tags, result.text_in_image) == ("A cat on a mat.", (), "")


def test_an_answer_without_a_caption_is_refused():
    with pytest.raises(InvalidReplyError, match="^the answer has an empty caption$"):
        parse_reply(json.dumps({"alt_text": "Cat", "tags": [], "text_in_image": ""}))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("A cat on a mat.", "the answer is not JSON (Expecting value: line 1 column 1 (char 0)): 'A cat on a mat.'"),
        ("[1, 2]", "the answer is JSON but not an object: '[1, 2]'"),
        (reply(caption=""), "the answer has an empty caption"),
        (reply(caption=3), "caption is not a string"),
        (reply(tags="cat, dog"), "tags is not a list of strings"),
        (reply(tags=[1, 2]), "tags is not a list of strings"),
    ],
)
def test_answers_that_break_the_schema_are_refused_with_the_reason(text, reason):
    """The reason ends up in the job's error, which people read."""
    with pytest.raises(InvalidReplyError) as caught:
        parse_reply(text)
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    "text", ["Sure! " + "Here is a caption of the photo you sent. " * 5, json.dumps(list(range(40)))]
)
def test_a_long_unusable_answer_is_quoted_by_its_first_80_characters(text):
    with pytest.raises(InvalidReplyError) as caught:
        parse_reply(text)
    assert str(caught.value).endswith(f": {text[:80]!r}")


def test_a_json_answer_in_a_code_fence_is_read():
    assert parse_reply(f"```json\n{reply()}\n```").caption == "A cat on a mat."


@pytest.mark.parametrize("closing", ["\n```", "```", "\n```\n"])
def test_pretty_printed_json_in_a_fence_is_read_even_with_backticks_in_the_photo(closing):
    """A screenshot of Markdown: the text in the image holds a code fence of its own."""
    fields = json.loads(reply(text_in_image="```python\nprint(1)\n```"))
    result = parse_reply("```json\n" + json.dumps(fields, indent=2) + closing)
    assert (result.caption, result.text_in_image) == ("A cat on a mat.", "```python\nprint(1)\n```")


@pytest.mark.parametrize("text", ["```", "```json"])
def test_a_fence_with_nothing_in_it_is_not_json(text):
    with pytest.raises(InvalidReplyError, match="^the answer is not JSON"):
        parse_reply(text)


def test_the_prompt_names_the_fields_limits_and_language():
    prompt = build_prompt("Describe it.", "ja")
    assert prompt.startswith("Describe it.")
    assert all(name in prompt for name in CAPTION_SCHEMA["properties"])
    assert 'BCP 47 tag is "ja"' in prompt
    assert "at most 125 characters" in prompt and "up to 10 lowercase words" in prompt


def test_the_prompt_version_follows_the_instructions_not_the_language():
    assert prompt_version("Describe it.") == prompt_version("Describe it.")
    assert len(prompt_version("Describe it.")) == 8
    assert prompt_version("Describe it.") != prompt_version("Describe it briefly.")


def test_the_prompt_version_follows_the_schema(monkeypatch):
    before = prompt_version("Describe it.")
    monkeypatch.setitem(CAPTION_SCHEMA["properties"]["caption"], "description", "One sentence.")
    assert prompt_version("Describe it.") != before


def test_the_schema_is_one_strict_structured_outputs_accept():
    assert CAPTION_SCHEMA["additionalProperties"] is False
    assert set(CAPTION_SCHEMA["required"]) == set(CAPTION_SCHEMA["properties"])
