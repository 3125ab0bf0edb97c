"""Turn a user's search text into an indexed full-text condition for each database."""

from __future__ import annotations

import re

import sqlalchemy as sa

from annotation_core.schema import SEARCHED_COLUMNS, images

_WORD = re.compile(r"\w+", re.UNICODE)
# A last word that starts more terms than this is matched as a prefix after all (a letter or two typed).
MAX_PREFIX_TERMS = 16
_FTS = sa.table("images_fts", sa.column("rowid"))
_TERMS_AFTER = sa.text("SELECT term FROM images_fts_terms WHERE term > :low AND term < :high LIMIT :limit")


def search_words(text: str) -> list[str]:
    """Split search text into plain words; operators and quotes are not passed to the engine."""
    return _WORD.findall(text)[:16]


def text_match(
    conn: sa.Connection, text: str, before_id: int | None = None, limit: int | None = None
) -> sa.ColumnElement[bool] | None:
    """Condition matching images with every word (the last as a prefix) in their searched text: what the model
    wrote (caption, alt text, tags, text in the image), what people wrote instead, and the file name.

    With `limit`, SQLite takes only the newest `limit` live matches below `before_id` straight from the text
    index (FTS5 orders by rowid = image id), instead of collecting every match and sorting them.
    """
    words = search_words(text)
    if not words:
        return None
    if conn.dialect.name == "sqlite":
        terms = [f'"{word}"' for word in words[:-1]] + [_sqlite_prefix(conn, words[-1])]
        hits = sa.select(_FTS.c.rowid).where(sa.text("images_fts MATCH :match").bindparams(match=" AND ".join(terms)))
        if before_id is not None:
            hits = hits.where(_FTS.c.rowid < before_id)
        if limit is not None:  # cut short only after leaving out the (few) images in the trash
            hits = hits.join(images, images.c.id == _FTS.c.rowid).where(images.c.deleted_at.is_(None))
            hits = hits.order_by(_FTS.c.rowid.desc()).limit(limit)
        return images.c.id.in_(hits)
    # MySQL/MariaDB: the FULLTEXT index in boolean mode, every word required.
    terms = [f"+{word}" for word in words[:-1]] + [f"+{words[-1]}*"]
    columns = ", ".join(SEARCHED_COLUMNS)
    return sa.text(f"MATCH ({columns}) AGAINST (:match IN BOOLEAN MODE)").bindparams(match=" ".join(terms))


def _sqlite_prefix(conn: sa.Connection, word: str) -> str:
    """`word` as a prefix, spelled as the few whole terms in the index that start with it, when there are few.

    FTS5 answers a prefix query (`"photo"*`) by merging every matching term's whole list of rows before it can
    return the newest, which costs ~60 ms for a word in half of a million captions; an OR of whole terms is
    read lazily, newest first. The index's vocabulary (`images_fts_terms`) names the longer terms; only plain
    ASCII words are spelled out, since the tokenizer's folding of other letters is its own.
    """
    folded = word.lower()
    if not (folded.isascii() and folded.isalnum()):
        return f'"{word}"*'
    # Above the word itself ("\x01" sorts before any letter), so its own, possibly long, list is not counted.
    bounds = {"low": folded + "\x01", "high": folded + "\U0010ffff", "limit": MAX_PREFIX_TERMS}
    longer = list(conn.execute(_TERMS_AFTER, bounds).scalars())
    if len(longer) >= MAX_PREFIX_TERMS:
        return f'"{word}"*'
    return "(" + " OR ".join(f'"{term}"' for term in [folded, *longer]) + ")"
