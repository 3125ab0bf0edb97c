"""The limits of the caption fields, the same for what a model answers and what a person writes."""

from __future__ import annotations

MAX_CAPTION = 2000
MAX_ALT_TEXT = 125
MAX_TAGS = 10
MAX_TAG_LENGTH = 60


def normalize_tags(tags: list[str]) -> tuple[str, ...]:
    """Lowercase, single-spaced, without '#', duplicates or empty ones, in their first order."""
    seen: dict[str, None] = {}
    for tag in tags:
        clean = " ".join(tag.strip().lstrip("#").lower().split())[:MAX_TAG_LENGTH]
        if clean:
            seen.setdefault(clean)
    return tuple(seen)
