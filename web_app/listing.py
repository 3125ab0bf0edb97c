"""One page of the gallery, as both the HTML pages and the JSON API ask for it: search, state filter, cursor."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from annotation_core.errors import AnnotationError
from annotation_core.records import ImageRecord, JobState
from annotation_core.repository import TakenPosition
from web_app.services import services

DEFAULT_LIMIT = 48
MAX_LIMIT = 100
STATUSES = tuple(state.value for state in JobState)
SORTS = ("uploaded", "taken")  # newest upload first (the default), or newest date taken first
_CURSOR_PREFIX = "before:"
_TAKEN_PREFIX = "taken:"
_UNDATED = "none"


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
    sort: str = "uploaded"
    after_taken: TakenPosition | None = None  # the cursor of a page sorted by date taken

    @property
    def first_page(self) -> bool:
        return self.before_id is None and self.after_taken is None


@dataclass(frozen=True)
class GalleryPage:
    records: list[ImageRecord]
    next_cursor: str | None


def encode_cursor(before_id: int) -> str:
    """An opaque token for 'images older than this one'; ids grow with upload time, so pages stay stable."""
    return _opaque(f"{_CURSOR_PREFIX}{before_id}")


def encode_taken_cursor(position: TakenPosition) -> str:
    """An opaque token for 'images after this one by date taken': both the date (or none) and the id."""
    taken = position.taken_at.isoformat() if position.taken_at is not None else _UNDATED
    return _opaque(f"{_TAKEN_PREFIX}{taken}/{position.image_id}")


def decode_cursor(cursor: str, sort: str = "uploaded") -> int | TakenPosition:
    """Where a cursor of `sort` points; raises BadQueryError for anything we did not hand out for that sort."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if sort == "uploaded" and text.startswith(_CURSOR_PREFIX) and _is_id(text[len(_CURSOR_PREFIX) :]):
            return int(text[len(_CURSOR_PREFIX) :])
        if sort == "taken" and text.startswith(_TAKEN_PREFIX):
            taken, image_id = text[len(_TAKEN_PREFIX) :].rsplit("/", 1)
            if _is_id(image_id):
                moment = None if taken == _UNDATED else datetime.fromisoformat(taken)
                return TakenPosition(moment, int(image_id))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadQueryError(
        f"The cursor is not valid for sort={sort}: pass the next_cursor of a previous page with the same sort, "
        "or none for the first page."
    )


def _opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def parse_query(args: Mapping[str, str]) -> GalleryQuery:
    """Read `q`, `status`, `sort`, `cursor` and `limit` from query arguments, refusing values out of range."""
    status = args.get("status", "").strip() or None
    if status is not None and status not in STATUSES:
        raise BadQueryError(f"The status must be one of {', '.join(STATUSES)} (got {status[:40]!r}).")
    sort = args.get("sort", "").strip() or "uploaded"
    if sort not in SORTS:
        raise BadQueryError(f"The sort must be one of {', '.join(SORTS)} (got {sort[:40]!r}).")
    cursor = args.get("cursor", "").strip()
    position = decode_cursor(cursor, sort) if cursor else None
    raw_limit = args.get("limit", "").strip()
    if raw_limit and not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT):
        raise BadQueryError(f"The limit must be a whole number from 1 to {MAX_LIMIT} (got {raw_limit[:40]!r}).")
    return GalleryQuery(
        text=args.get("q", "").strip()[:200],
        status=JobState(status) if status else None,
        before_id=position if isinstance(position, int) else None,
        limit=int(raw_limit) if raw_limit else DEFAULT_LIMIT,
        sort=sort,
        after_taken=position if isinstance(position, TakenPosition) else None,
    )


def parse_ids(raw: str) -> list[int]:
    """Read `ids=3,5,9` (1 to MAX_LIMIT image ids), refusing anything else."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or len(parts) > MAX_LIMIT or not all(_is_id(part) for part in parts):
        raise BadQueryError(f"ids must be 1 to {MAX_LIMIT} image ids separated by commas (got {raw[:40]!r}).")
    return [int(part) for part in parts]


def load_page(query: GalleryQuery) -> GalleryPage:
    """Fetch one page newest first (by upload or by date taken), and the cursor of the next one when more remain."""
    repository = services().repository
    if query.sort == "taken":
        records = repository.page_by_taken(
            after=query.after_taken, limit=query.limit + 1, query=query.text, status=query.status
        )
    else:
        records = repository.page(
            before_id=query.before_id, limit=query.limit + 1, query=query.text, status=query.status
        )
    if len(records) <= query.limit:
        return GalleryPage(records, None)
    last = records[query.limit - 1]
    if query.sort == "taken":
        return GalleryPage(records[: query.limit], encode_taken_cursor(TakenPosition(last.taken_at, last.id)))
    return GalleryPage(records[: query.limit], encode_cursor(last.id))


def _is_id(text: str) -> bool:
    """ASCII digits of a number a BIGINT id column can hold ("²" is a digit to str.isdigit, not to int)."""
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**63
