"""A gallery database of N realistic rows, loaded fast: one transaction, executemany, FTS index built once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import sqlalchemy as sa

from annotation_core.schema import SQLITE_FTS_DDL, images

COMMON_WORD = "photo"  # in about half the captions
RARE_WORD = "zeppelin"  # in 1 caption of 2,000
# fmt: off
WORDS = (
    "dog", "cat", "child", "woman", "man", "beach", "mountain", "city", "street", "car", "tree", "flower",
    "sky", "sunset", "river", "lake", "snow", "house", "table", "food", "bird", "bicycle", "boat", "forest",
    "garden", "night", "road", "bridge", "window", "field", "horse",
)
# fmt: on
WEIGHTS = [1 / rank for rank in range(1, len(WORDS) + 1)]  # Zipf-like: a few words everywhere, most rarer
FAILED_SHARE = 0.03  # caption jobs that failed (no key, refused)
UNFINISHED_NEWEST = 10  # the newest uploads still have both jobs pending


def rows(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Rows as uploads would leave them: ids and upload times rising together, most jobs completed."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    for number in range(1, count + 1):
        words = rng.choices(WORDS, WEIGHTS, k=8)
        if rng.random() < 0.5:
            words.insert(rng.randrange(len(words) + 1), COMMON_WORD)
        if number % 2000 == 1000:
            words.append(RARE_WORD)
        at = start + timedelta(seconds=7 * number)
        pending = number > count - UNFINISHED_NEWEST
        failed = not pending and rng.random() < FAILED_SHARE
        yield {
            "original_key": f"uploads/{number:032x}.jpg",
            "filename": f"IMG_{number:07d}.jpg",
            "mime_type": "image/jpeg",
            "size_bytes": rng.randrange(1_000_000, 6_000_000),
            "width": 4000,
            "height": 3000,
            "sha256": f"{number:064x}",
            "uploaded_at": at,
            "updated_at": at,
            "thumbnail_status": "pending" if pending else "completed",
            "thumbnail_key": None if pending else f"thumbnails/{number:032x}.jpg",
            "thumbnail_attempts": 0 if pending else 1,
            "caption_status": "pending" if pending else "failed" if failed else "completed",
            "caption": None if pending or failed else "A " + " ".join(words) + ".",
            "caption_error": "No GEMINI_API_KEY is set: set GEMINI_API_KEY, then retry." if failed else None,
            "caption_attempts": 0 if pending else 1,
        }


def fill(engine: sa.Engine, count: int) -> None:
    """Insert `count` rows through the product's table definition, leaving triggers and indexes as it has them."""
    insert_trigger = next(ddl for ddl in SQLITE_FTS_DDL if "images_fts_insert" in ddl)
    with engine.begin() as conn:
        # A per-row FTS trigger costs several times the insert itself: drop it for the load, build the
        # text index in one pass, then recreate the trigger from the product's own DDL.
        conn.exec_driver_sql("DROP TRIGGER images_fts_insert")
        generated = rows(count)
        while chunk := list(islice(generated, 20_000)):
            conn.execute(images.insert(), chunk)
        conn.exec_driver_sql("INSERT INTO images_fts(images_fts) VALUES ('rebuild')")
        conn.exec_driver_sql(insert_trigger)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
