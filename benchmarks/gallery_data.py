"""A gallery database of N realistic rows, generated inside the database: one INSERT ... SELECT per 100,000
numbers (a recursive CTE on SQLite, MariaDB's sequence tables), text indexes built once after the load."""

from __future__ import annotations

import sqlalchemy as sa

from annotation_core.schema import SQLITE_FTS_DDL

COMMON_WORD = "photo"  # in about half the captions
RARE_WORD = "zeppelin"  # in 1 caption of 2,000
TAG_WORD = "landscape"  # a tag (never a caption word) on about 1 image in 10
# fmt: off
WORDS = (
    "dog", "cat", "child", "woman", "man", "beach", "mountain", "city", "street", "car", "tree", "flower",
    "sky", "sunset", "river", "lake", "snow", "house", "table", "food", "bird", "bicycle", "boat", "forest",
    "garden", "night", "road", "bridge", "window", "field", "horse",
)
TAGS = (
    "outdoors", "people", "animal", "nature", "urban", "portrait", "travel", "architecture", "water",
    "vehicle", TAG_WORD, "macro", "sport", "family",
)
# fmt: on
FAILED_PERCENT = 3  # caption jobs that failed (no key, refused)
TRASHED_PERCENT = 2  # images in the trash: every listing must leave them out
UNFINISHED_NEWEST = 10  # the newest uploads still have both jobs pending
CHUNK = 100_000
GENERATOR_VERSION = 2  # raise when the rows change: cached databases are refilled
_SLOTS, _WIDTH = 128, 12  # a word is picked as one of 128 fixed-width slots, each word in slots ~ 1/rank


def fill(engine: sa.Engine, count: int) -> None:
    """Insert rows 1..`count` into the product's table, leaving triggers and indexes as the migrations made them.

    Rows are as uploads would leave them: ids and upload times rising together, most jobs completed, a few
    captions failed and a few images in the trash. On SQLite the text index is left out during the load and
    built in one pass after it (a per-row FTS5 trigger costs more than the insert); MariaDB's FULLTEXT index is
    kept, since one dropped and added again after the load matched nothing (MariaDB 10.11).
    """
    mysql = engine.dialect.name == "mysql"
    if not mysql:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER images_fts_insert")
    for low in range(1, count + 1, CHUNK):
        with engine.begin() as conn:
            conn.exec_driver_sql(_insert_sql(mysql, low, min(count, low + CHUNK - 1), count))
    if not mysql:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO images_fts(images_fts) VALUES ('rebuild')")
            conn.exec_driver_sql(next(ddl for ddl in SQLITE_FTS_DDL if "images_fts_insert" in ddl))
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _bag(words: tuple[str, ...]) -> str:
    """The words as `_SLOTS` fixed-width slots, each word taking slots in proportion to 1/rank (Zipf-like)."""
    weights = [1 / rank for rank in range(1, len(words) + 1)]
    slots = [max(1, round(_SLOTS * w / sum(weights))) for w in weights]
    slots[0] += _SLOTS - sum(slots)
    return "".join(word.ljust(_WIDTH) * n for word, n in zip(words, slots, strict=True))


def _insert_sql(mysql: bool, low: int, high: int, count: int) -> str:
    def cat(*parts: str) -> str:
        return f"CONCAT({', '.join(parts)})" if mysql else " || ".join(parts)

    def pick(bag: str, salt: int) -> str:  # a word from the bag chosen by a hash of the row number and salt
        slot = f"(n * {2654435761 + 2 * salt} + {salt * 7919}) % {_SLOTS}"
        return f"TRIM(SUBSTR('{bag}', 1 + {_WIDTH} * ({slot}), {_WIDTH}))"

    def hashed(salt: int, modulo: int) -> str:
        return f"((n * {40503 + 2 * salt} + {salt * 104729}) % 1000003) % {modulo}"

    words, tags = _bag(WORDS), _bag(TAGS)
    caption_words = [pick(words, salt) for salt in range(8)]
    caption = cat(
        "'A '",
        *(part for index, word in enumerate(caption_words) for part in ((word,) if index == 0 else ("' '", word))),
        f"CASE WHEN {hashed(9, 2)} = 0 THEN ' {COMMON_WORD}' ELSE '' END",
        f"CASE WHEN n % 2000 = 1000 THEN ' {RARE_WORD}' ELSE '' END",
        "'.'",
    )
    tag_list = cat("'[\"'", pick(tags, 11), "'\", \"'", pick(tags, 12), "'\"]'")
    hex32 = "LPAD(LOWER(HEX(n)), 32, '0')" if mysql else "printf('%032x', n)"
    hex64 = "LPAD(LOWER(HEX(n)), 64, '0')" if mysql else "printf('%064x', n)"
    at = (
        "TIMESTAMP('2024-01-01') + INTERVAL 7 * n SECOND"
        if mysql
        else "datetime('2024-01-01', '+' || (7 * n) || ' seconds')"
    )
    trashed_at = (
        "TIMESTAMP('2024-01-02') + INTERVAL 7 * n SECOND"
        if mysql
        else "datetime('2024-01-02', '+' || (7 * n) || ' seconds')"
    )
    grid_key = cat("'thumbnails/'", hex32, "'/grid-256x256.webp'")
    pending, failed = f"n > {count - UNFINISHED_NEWEST}", f"{hashed(13, 100)} < {FAILED_PERCENT}"
    columns = {
        "id": "n",
        "original_key": cat("'uploads/'", hex32, "'.jpg'"),
        "filename": cat("'IMG_'", "n", "'.jpg'"),
        "mime_type": "'image/jpeg'",
        "size_bytes": f"1000000 + {hashed(14, 5000000)}",
        "width": "4000",
        "height": "3000",
        "sha256": hex64,
        "uploaded_at": at,
        "updated_at": at,
        "thumbnail_status": f"CASE WHEN {pending} THEN 'pending' ELSE 'completed' END",
        "thumbnail_key": f"CASE WHEN {pending} THEN NULL ELSE {grid_key} END",
        "thumbnail_attempts": f"CASE WHEN {pending} THEN 0 ELSE 1 END",
        "caption_status": f"CASE WHEN {pending} THEN 'pending' WHEN {failed} THEN 'failed' ELSE 'completed' END",
        "caption": f"CASE WHEN {pending} OR {failed} THEN NULL ELSE {caption} END",
        "tags": f"CASE WHEN {pending} OR {failed} THEN NULL ELSE {tag_list} END",
        "caption_error": f"CASE WHEN NOT ({pending}) AND {failed} THEN 'No GEMINI_API_KEY is set.' END",
        "caption_attempts": f"CASE WHEN {pending} THEN 0 ELSE 1 END",
        "deleted_at": f"CASE WHEN NOT ({pending}) AND {hashed(15, 100)} < {TRASHED_PERCENT} THEN {trashed_at} END",
    }
    select = f"SELECT {', '.join(columns.values())} FROM "
    if mysql:
        select += f"(SELECT seq AS n FROM seq_{low}_to_{high}) AS numbers"
    else:
        select = (
            f"WITH RECURSIVE numbers(n) AS (SELECT {low} UNION ALL SELECT n + 1 FROM numbers WHERE n < {high}) "
            + select
            + "numbers"
        )
    return f"INSERT INTO images ({', '.join(columns)}) {select}"
