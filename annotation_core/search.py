"""Turn a user's search text into an indexed full-text condition for each database."""

from __future__ import annotations

import re

import sqlalchemy as sa

from annotation_core.schema import images

_WORD = re.compile(r"\w+", re.UNICODE)


def search_words(text: str) -> list[str]:
    """Split search text into plain words; operators and quotes are not passed to the engine."""
    return _WORD.findall(text)[:16]


def text_match(dialect_name: str, text: str) -> sa.ColumnElement[bool] | None:
    """Condition matching images whose caption or file name has every word (the last as a prefix)."""
    words = search_words(text)
    if not words:
        return None
    if dialect_name == "sqlite":
        terms = [f'"{word}"' for word in words[:-1]] + [f'"{words[-1]}"*']
        fts = sa.text("SELECT rowid FROM images_fts WHERE images_fts MATCH :match").bindparams(
            match=" AND ".join(terms)
        )
        return images.c.id.in_(fts.columns(sa.column("rowid")))
    # MySQL/MariaDB: the FULLTEXT index in boolean mode, every word required.
    terms = [f"+{word}" for word in words[:-1]] + [f"+{words[-1]}*"]
    return sa.text("MATCH (caption, filename) AGAINST (:match IN BOOLEAN MODE)").bindparams(match=" ".join(terms))
