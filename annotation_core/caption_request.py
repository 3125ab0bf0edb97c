"""What every caption model is asked, the JSON schema its answer must match, and reading that answer.

Both providers send the same prompt and schema; `prompt_version` names them (with the settings' prompt), so
a backfill can find captions written under another version.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from annotation_core.caption_fields import MAX_ALT_TEXT, MAX_CAPTION, MAX_TAGS, normalize_tags

CAPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "caption": {"type": "string", "description": "One to three factual sentences about what the photo shows."},
        "alt_text": {
            "type": "string",
            "description": f"At most {MAX_ALT_TEXT} characters for a screen reader, without 'image of' or 'photo of'.",
        },
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "description": f"Up to {MAX_TAGS} lowercase words or short phrases a person would search for.",
        },
        "text_in_image": {"type": "string", "description": "Legible text in the photo, verbatim; empty if none."},
    },
    "required": ["caption", "alt_text", "tags", "text_in_image"],
    "additionalProperties": False,
}

_FIELDS = """Answer with JSON only, matching the schema:
- caption: one to three factual sentences about what the photo shows;
- alt_text: at most {alt} characters for a screen reader, saying what the photo shows,
  never starting with "image of" or "photo of";
- tags: up to {tags} lowercase words or short phrases a person would search for;
- text_in_image: the legible text in the photo, verbatim, or an empty string.
Write caption, alt_text and tags in the language whose BCP 47 tag is "{language}"; copy text_in_image as written."""

# "Image of a cat" says nothing a screen reader has not said already.
_REDUNDANT_START = re.compile(r"^\s*(an? )?(image|photo|photograph|picture) (of|showing)\s+", re.IGNORECASE)


class InvalidReplyError(ValueError):
    """The model's answer is not the JSON the schema asks for."""


@dataclass(frozen=True)
class CaptionResult:
    caption: str
    alt_text: str
    tags: tuple[str, ...]
    text_in_image: str


def build_prompt(instructions: str, language: str) -> str:
    """The settings' instructions, then the fields and the language asked for."""
    return f"{instructions.strip()}\n\n" + _FIELDS.format(alt=MAX_ALT_TEXT, tags=MAX_TAGS, language=language)


def prompt_version(instructions: str) -> str:
    """A short name for the prompt and schema: it changes when either does (the language is recorded apart)."""
    text = build_prompt(instructions, "{language}") + json.dumps(CAPTION_SCHEMA, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def parse_reply(text: str) -> CaptionResult:
    """Read the model's JSON answer, holding each field to the limits the prompt states."""
    try:
        answer = json.loads(_without_code_fence(text))
    except ValueError as error:
        raise InvalidReplyError(f"the answer is not JSON ({error}): {text[:80]!r}") from error
    if not isinstance(answer, dict):
        raise InvalidReplyError(f"the answer is JSON but not an object: {text[:80]!r}")
    caption = _text(answer, "caption")
    if not caption:
        raise InvalidReplyError("the answer has an empty caption")
    return CaptionResult(
        caption=caption[:MAX_CAPTION],
        alt_text=_alt_text(_text(answer, "alt_text") or caption),
        tags=_tags(answer.get("tags", [])),
        text_in_image=_text(answer, "text_in_image"),
    )


def _text(answer: dict, name: str) -> str:
    value = answer.get(name, "")
    if not isinstance(value, str):
        raise InvalidReplyError(f"{name} is not a string")
    return value.strip()


def _alt_text(text: str) -> str:
    """Without a redundant 'image of', and cut at a word boundary to MAX_ALT_TEXT characters."""
    text = _REDUNDANT_START.sub("", text, count=1)
    text = text[:1].upper() + text[1:]
    if len(text) <= MAX_ALT_TEXT:
        return text
    cut = text[: MAX_ALT_TEXT - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise InvalidReplyError("tags is not a list of strings")
    return normalize_tags(value)[:MAX_TAGS]


def _without_code_fence(text: str) -> str:
    """Some local models wrap JSON in a Markdown code fence even when asked not to."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped
