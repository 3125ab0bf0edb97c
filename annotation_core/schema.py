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
    # What the caption model answered (its latest suggestion) and where it came from.
    sa.Column("alt_text", sa.Text),
    sa.Column("tags", sa.Text),  # a JSON list of strings
    sa.Column("text_in_image", sa.Text),
    sa.Column("caption_provider", sa.String(32)),
    sa.Column("caption_prompt_version", sa.String(16)),
    sa.Column("caption_language", sa.String(35)),
    sa.Column("caption_input_tokens", sa.Integer),
    sa.Column("caption_output_tokens", sa.Integer),
    sa.Column("caption_latency_ms", sa.Integer),
    sa.Column("captioned_at", Timestamp),
    # What a person wrote instead; a model never writes these.
    sa.Column("edited_caption", sa.Text),
    sa.Column("edited_alt_text", sa.Text),
    sa.Column("edited_tags", sa.Text),  # a JSON list of strings
    sa.Column("edited_at", Timestamp),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_unicode_ci",
)

# The text search covers what the model wrote, what people wrote, and the file name.
SEARCHED_COLUMNS = (
    "caption",
    "alt_text",
    "tags",
    "text_in_image",
    "edited_caption",
    "edited_alt_text",
    "edited_tags",
    "filename",
)

# MySQL searches them through one FULLTEXT index (MATCH must name exactly its columns) ...
sa.Index("ix_images_fulltext", *(images.c[name] for name in SEARCHED_COLUMNS), mysql_prefix="FULLTEXT").ddl_if(
    dialect="mysql"
)


def _sqlite_fts_ddl(columns: tuple[str, ...]) -> tuple[str, ...]:
    listed = ", ".join(columns)
    new, old = (", ".join(f"{row}.{column}" for column in columns) for row in ("new", "old"))
    delete = f"INSERT INTO images_fts(images_fts, rowid, {listed}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO images_fts(rowid, {listed}) VALUES (new.id, {new});"
    return (
        f"CREATE VIRTUAL TABLE images_fts USING fts5({listed}, content='images', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN {insert} END",
        f"CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN {delete} END",
        f"CREATE TRIGGER images_fts_update AFTER UPDATE OF {listed} ON images BEGIN {delete} {insert} END",
    )


# ... SQLite through an external-content FTS5 table kept in step by triggers. Its rowid is the image id,
# so "newest matches first" is answered from the text index alone (ORDER BY rowid DESC). The migrations
# create these; they are listed here as the statements the head revision leaves in sqlite_master.
SQLITE_FTS_DDL = _sqlite_fts_ddl(SEARCHED_COLUMNS)


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
