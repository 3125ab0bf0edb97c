"""The `images` table (SQLAlchemy Core) and the text-search structures each database needs.

The migrations in `annotation_core/migrations` build exactly this (a test compares them), and
`database/schema.sql` is generated from it (`make schema`; a test fails when they drift).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.schema import CreateIndex, CreateTable

from annotation_core.records import JobState

metadata = sa.MetaData()

# MySQL DATETIME keeps no fractions by default; job leases and keyset order want microseconds.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid), which FTS5 also keys on.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _state_column(name: str) -> sa.Column:
    state = sa.Enum(
        JobState,
        name=f"{name}_state",
        native_enum=False,
        length=16,
        values_callable=lambda states: [s.value for s in states],
        validate_strings=True,
        create_constraint=True,
    )
    return sa.Column(name, state, nullable=False, server_default=JobState.PENDING.value, index=True)


images = sa.Table(
    "images",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("original_key", sa.String(255), nullable=False, unique=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("mime_type", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("uploaded_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    _state_column("thumbnail_status"),
    sa.Column("thumbnail_key", sa.String(255)),
    sa.Column("thumbnail_error", sa.Text),
    sa.Column("thumbnail_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("thumbnail_started_at", Timestamp),
    sa.Column("thumbnail_finished_at", Timestamp),
    sa.Column("thumbnail_next_attempt_at", Timestamp),
    sa.Column("thumbnail_queued_at", Timestamp),
    _state_column("caption_status"),
    sa.Column("caption", sa.Text),
    sa.Column("caption_model", sa.String(128)),
    sa.Column("caption_error", sa.Text),
    sa.Column("caption_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("caption_started_at", Timestamp),
    sa.Column("caption_finished_at", Timestamp),
    sa.Column("caption_next_attempt_at", Timestamp),
    sa.Column("caption_queued_at", Timestamp),
    # What the thumbnail job records besides thumbnail_key: the preview, sizes, placeholder and photo facts.
    sa.Column("preview_key", sa.String(255)),
    sa.Column("thumbnail_width", sa.Integer),
    sa.Column("thumbnail_height", sa.Integer),
    sa.Column("preview_width", sa.Integer),
    sa.Column("preview_height", sa.Integer),
    sa.Column("placeholder", sa.String(64)),
    sa.Column("taken_at", Timestamp),
    sa.Column("camera_make", sa.String(64)),
    sa.Column("camera_model", sa.String(128)),
    sa.Column("lens_model", sa.String(128)),
    sa.Column("exposure_seconds", sa.Double),
    sa.Column("f_number", sa.Double),
    sa.Column("iso", sa.Integer),
    sa.Column("focal_length_mm", sa.Double),
    sa.Column("has_location", sa.Boolean),
    sa.Column("latitude", sa.Double),
    sa.Column("longitude", sa.Double),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_unicode_ci",
)

# `?sort=taken`: newest taken first, keyset-paged on (taken_at, id); undated images follow, newest upload first.
sa.Index("ix_images_taken_at", images.c.taken_at, images.c.id)

# MySQL searches captions and file names through a FULLTEXT index ...
sa.Index("ix_images_fulltext", images.c.caption, images.c.filename, mysql_prefix="FULLTEXT").ddl_if(dialect="mysql")

# ... SQLite through an external-content FTS5 table kept in step by triggers. Its rowid is the image id,
# so "newest matches first" is answered from the text index alone (ORDER BY rowid DESC). The migrations
# create these; they are listed here as the statements the head revision leaves in sqlite_master.
SQLITE_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS images_fts USING fts5("
    "caption, filename, content='images', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS images_fts_insert AFTER INSERT ON images BEGIN "
    "INSERT INTO images_fts(rowid, caption, filename) VALUES (new.id, new.caption, new.filename); END",
    "CREATE TRIGGER IF NOT EXISTS images_fts_delete AFTER DELETE ON images BEGIN "
    "INSERT INTO images_fts(images_fts, rowid, caption, filename) "
    "VALUES ('delete', old.id, old.caption, old.filename); END",
    "CREATE TRIGGER IF NOT EXISTS images_fts_update AFTER UPDATE OF caption, filename ON images BEGIN "
    "INSERT INTO images_fts(images_fts, rowid, caption, filename) "
    "VALUES ('delete', old.id, old.caption, old.filename); "
    "INSERT INTO images_fts(rowid, caption, filename) VALUES (new.id, new.caption, new.filename); END",
)


def mysql_ddl() -> str:
    """Render the MySQL DDL that `database/schema.sql` holds."""
    dialect = mysql.dialect()
    statements = [str(CreateTable(images).compile(dialect=dialect)).strip()]
    for index in sorted(images.indexes, key=lambda index: index.name):
        statements.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    header = "-- Generated from annotation_core/schema.py by `make schema`. Do not edit by hand.\n"
    return header + "".join(f"\n{statement};\n" for statement in statements)


if __name__ == "__main__":
    print(mysql_ddl(), end="")
