"""Date headings: the photos of a page, in its order, grouped by day - the day a photo was taken when its EXIF
says, else the day it was uploaded. Here in UTC (the server does not know the reader's zone); the page's script
redoes the headings in the reader's own time zone and keeps UTC in their tooltips."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class Day:
    key: str  # YYYY-MM-DD
    label: str
    title: str
    images: list[dict[str, Any]] = field(default_factory=list)


def day_key(image: dict[str, Any]) -> tuple[str, bool]:
    """The image's day (taken, else uploaded in UTC), and whether it is the day it was taken."""
    if image.get("taken_at"):
        return image["taken_at"][:10], True
    return image["uploaded_at"][:10], False


def day_groups(images: list[dict[str, Any]]) -> list[Day]:
    """Runs of consecutive images of the same day, in the order given."""
    days: list[Day] = []
    for image in images:
        key, taken = day_key(image)
        if not days or days[-1].key != key:
            label = date.fromisoformat(key).strftime("%A, %d %B %Y")
            title = f"{key}, {'by the camera clock' if taken else 'uploaded (UTC)'}"
            days.append(Day(key, label, title))
        days[-1].images.append(image)
    return days
