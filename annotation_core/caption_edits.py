"""People's edits of a caption, alt text and tags: checked, stored beside the model's answer (which a model
never overwrites, and which stays visible), and searched like it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from annotation_core.caption_fields import MAX_ALT_TEXT, MAX_CAPTION, MAX_TAG_LENGTH, MAX_TAGS, normalize_tags
from annotation_core.errors import AnnotationError, ImageNotFoundError
from annotation_core.job_store import utcnow
from annotation_core.records import EDITABLE_FIELDS, ImageRecord, encode_tags
from annotation_core.repository import ImageRepository
from annotation_core.schema import images


class InvalidEditError(AnnotationError):
    """An edit that cannot be stored; the message says which field and why."""

    http_status = 400


def check_edit(body: Any) -> dict[str, Any]:
    """The stored form of an edit: {"caption": "..."|None, "alt_text": ..., "tags": [...]|None}, any subset.

    None takes a field back to the model's answer; an empty tag list means "no tags".
    """
    if not isinstance(body, Mapping) or not body:
        raise InvalidEditError(f"Send a JSON object with any of {', '.join(EDITABLE_FIELDS)} (null: the model's).")
    unknown = sorted(set(body) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidEditError(
            f"These fields cannot be edited: {', '.join(unknown)}; send {', '.join(EDITABLE_FIELDS)}."
        )
    edit: dict[str, Any] = {}
    for name, value in body.items():
        edit[name] = None if value is None else _CHECKS[name](value)
    return edit


def _text(name: str, limit: int, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEditError(f"{name} must be text (or null to use the model's).")
    text = " ".join(value.split()) if name == "alt_text" else value.strip()
    if len(text) > limit:
        raise InvalidEditError(f"{name} is {len(text)} characters; at most {limit} fit.")
    return text


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise InvalidEditError("tags must be a list of words or short phrases (or null to use the model's).")
    if any(len(tag.strip()) > MAX_TAG_LENGTH for tag in value):
        raise InvalidEditError(f"Each tag may be at most {MAX_TAG_LENGTH} characters.")
    tags = list(normalize_tags(value))
    if len(tags) > MAX_TAGS:
        raise InvalidEditError(f"At most {MAX_TAGS} tags; {len(tags)} were sent.")
    return tags


# Checked by calling `_text` on every edit (not a closure made once at import, which mutation tests cannot reach).
_CHECKS = {
    "caption": partial(_text, "caption", MAX_CAPTION),
    "alt_text": partial(_text, "alt_text", MAX_ALT_TEXT),
    "tags": _tags,
}


def save_edit(repository: ImageRepository, image_id: int, edit: Mapping[str, Any]) -> ImageRecord:
    """Store a checked edit beside the model's answer; returns the image as it now is."""
    values: dict[str, Any] = {}
    for name, value in edit.items():
        stored = encode_tags(value) if name == "tags" and value is not None else value
        values[images.c[f"edited_{name}"]] = stored
    now = utcnow()
    values.update({images.c.edited_at: now, images.c.updated_at: now})
    with repository.engine.begin() as conn:
        edited = images.update().where(images.c.id == image_id, images.c.deleted_at.is_(None))  # not in the trash
        if conn.execute(edited.values(values)).rowcount != 1:
            raise ImageNotFoundError(f"No image has id {image_id}.")
    return repository.get(image_id)


def parse_tag_list(text: str) -> list[str]:
    """Tags as a person types them in a form: separated by commas."""
    return [tag for tag in text.split(",") if tag.strip()]
