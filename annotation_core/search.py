"""Turn a user's search text into an indexed full-text condition for each database."""

from __future__ import annotations

import re

import sqlalchemy as sa

from annotation_core.schema import SEARCHED_COLUMNS, images

_WORD = re.compile(r"\w+", re.UNICODE)


def search_words(text: str) -> list[str]:
    """Split search text into plain words; operators and quotes are not passed to the engine."""
    return _WORD.findall(text)[:16]


def text_match(
    dialect_name: str, text: str, before_id: int | None = None, limit: int | None = None
) -> sa.ColumnElement[bool] | None:
    """Condition matching images with every word (the last as a prefix) in their searched text: what the model
    wrote (caption, alt text, tags, text in the image), what people wrote instead, and the file name.

    With `limit`, SQLite takes only the newest `limit` matches below `before_id` straight from the text
    index (FTS5 orders by rowid = image id), instead of collecting every match and sorting them.
    """
    words = search_words(text)
    if not words:
        return None
    if dialect_name == "sqlite":
        terms = [f'"{word}"' for word in words[:-1]] + [f'"{words[-1]}"*']
        hits = sa.select(sa.column("rowid")).select_from(sa.table("images_fts"))
        hits = hits.where(sa.text("images_fts MATCH :match").bindparams(match=" AND ".join(terms)))
        if before_id is not None:
            hits = hits.where(sa.column("rowid") < before_id)
        if limit is not None:  # cut short only after leaving out the (few) images in the trash
            trashed = sa.select(images.c.id).where(images.c.deleted_at.is_not(None))
            hits = hits.where(sa.column("rowid").not_in(trashed)).order_by(sa.column("rowid").desc()).limit(limit)
        return images.c.id.in_(hits)
    # MySQL/MariaDB: the FULLTEXT index in boolean mode, every word required.
    terms = [f"+{word}" for word in words[:-1]] + [f"+{words[-1]}*"]
    columns = ", ".join(SEARCHED_COLUMNS)
    return sa.text(f"MATCH ({columns}) AGAINST (:match IN BOOLEAN MODE)").bindparams(match=" ".join(terms))
