"""One page of the gallery, as both the HTML pages and the JSON API ask for it: search, state filter, cursor."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from annotation_core.errors import AnnotationError
from annotation_core.records import ImageRecord, JobState
from web_app.services import services

DEFAULT_LIMIT = 48
MAX_LIMIT = 100
STATUSES = tuple(state.value for state in JobState)
_CURSOR_PREFIX = "before:"


class BadQueryError(AnnotationError):
    """A list request's parameter has a value we cannot use; the message says which and what to send."""

    http_status = 400


@dataclass(frozen=True)
class GalleryQuery:
    """What a list request asks for: search text, overall state, where to continue and how many."""

    text: str = ""
    status: JobState | None = None
    before_id: int | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class GalleryPage:
    records: list[ImageRecord]
    next_cursor: str | None


def encode_cursor(before_id: int) -> str:
    """An opaque token for 'images older than this one'; ids grow with upload time, so pages stay stable."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{before_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The image id a cursor points before; raises BadQueryError for anything we did not hand out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        number = text[len(_CURSOR_PREFIX) :]
        if text.startswith(_CURSOR_PREFIX) and _is_id(number):
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadQueryError("The cursor is not valid: pass the next_cursor of a previous page, or none for the newest.")


def parse_query(args: Mapping[str, str]) -> GalleryQuery:
    """Read `q`, `status`, `cursor` and `limit` from query arguments, refusing values out of range."""
    status = args.get("status", "").strip() or None
    if status is not None and status not in STATUSES:
        raise BadQueryError(f"The status must be one of {', '.join(STATUSES)} (got {status[:40]!r}).")
    cursor = args.get("cursor", "").strip()
    raw_limit = args.get("limit", "").strip()
    if raw_limit and not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT):
        raise BadQueryError(f"The limit must be a whole number from 1 to {MAX_LIMIT} (got {raw_limit[:40]!r}).")
    return GalleryQuery(
        text=args.get("q", "").strip()[:200],
        status=JobState(status) if status else None,
        before_id=decode_cursor(cursor) if cursor else None,
        limit=int(raw_limit) if raw_limit else DEFAULT_LIMIT,
    )


def parse_ids(raw: str) -> list[int]:
    """Read `ids=3,5,9` (1 to MAX_LIMIT image ids), refusing anything else."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or len(parts) > MAX_LIMIT or not all(_is_id(part) for part in parts):
        raise BadQueryError(f"ids must be 1 to {MAX_LIMIT} image ids separated by commas (got {raw[:40]!r}).")
    return [int(part) for part in parts]


def load_page(query: GalleryQuery) -> GalleryPage:
    """Fetch one page newest first, and the cursor of the next one when more remain."""
    records = services().repository.page(
        before_id=query.before_id, limit=query.limit + 1, query=query.text, status=query.status
    )
    more = len(records) > query.limit
    records = records[: query.limit]
    return GalleryPage(records, encode_cursor(records[-1].id) if more else None)


def _is_id(text: str) -> bool:
    """ASCII digits of a number a BIGINT id column can hold ("²" is a digit to str.isdigit, not to int)."""
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**63
