"""The tables (SQLAlchemy Core): images, the accounts that upload them, their API tokens, and the
counters behind rate limits; plus the text-search structures each database needs.

The migrations in `annotation_core/migrations` build exactly this (a test compares them), and
`database/schema.sql` is generated from it (`make schema`; a test fails when they drift).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.schema import CreateIndex, CreateTable

from annotation_core.records import JobState, Role

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
    return sa.Column(name, state, nullable=False, server_default=JobState.PENDING.value)


_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column(
        "role",
        sa.Enum(
            Role,
            name="user_role",
            native_enum=False,
            length=16,
            values_callable=lambda roles: [r.value for r in roles],
            validate_strings=True,
            create_constraint=True,
        ),
        nullable=False,
    ),
    sa.Column("disabled", sa.Boolean(name="user_disabled"), nullable=False, server_default=sa.false()),
    # Set when someone else chose the password (a new or reset account): the user must pick their own.
    sa.Column("must_change_password", sa.Boolean(name="user_must_change"), nullable=False, server_default=sa.false()),
    # Part of every session's identity: raising it signs the user out everywhere (password change, disable).
    sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    **_TABLE_OPTIONS,
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("user_id", RowId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    # SHA-256 of the token: the token itself is shown once and never stored.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp),
    **_TABLE_OPTIONS,
)

# Fixed-window counters shared by every web instance (failed sign-ins per account and per address).
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("rate_key", sa.String(191), primary_key=True),
    sa.Column("window_started_at", Timestamp, nullable=False),
    sa.Column("hits", sa.Integer, nullable=False),
    **_TABLE_OPTIONS,
)

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
    # Who uploaded it; NULL for images uploaded before accounts existed (only admins may change those).
    sa.Column("uploaded_by", RowId, sa.ForeignKey("users.id", name="fk_images_uploaded_by")),
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
    # Set when the image was moved to the trash: hidden from every page and listing, its jobs skip it, and the
    # sweeper purges it (objects, then row) TRASH_RETENTION_DAYS later. Until then it can be restored.
    sa.Column("deleted_at", Timestamp),
    **_TABLE_OPTIONS,
)

# Uploads per user in the last hour (the upload rate limit), and the foreign key's index.
sa.Index("ix_images_uploaded_by", images.c.uploaded_by, images.c.uploaded_at)

# `?sort=taken`: newest taken first, keyset-paged on (taken_at, id); undated images follow, newest upload first.
sa.Index("ix_images_taken_at", images.c.taken_at, images.c.id)

# Every listing shows live images (deleted_at IS NULL) newest first: one range read in id order, stopping after
# a page; the sweeper's purge finds what has been in the trash long enough from the same index.
sa.Index("ix_images_deleted_at", images.c.deleted_at, images.c.id)

# Jobs by state (claims, the sweeper) and the failed filter ("failed, live, newest first"), read in id order.
for _job in ("thumbnail", "caption"):
    sa.Index(f"ix_images_{_job}_status", images.c[f"{_job}_status"], images.c.deleted_at, images.c.id)

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
        # The index's vocabulary: search spells a prefix as the whole terms that start with it (search.py).
        "CREATE VIRTUAL TABLE images_fts_terms USING fts5vocab(images_fts, 'row')",
    )


# ... SQLite through an external-content FTS5 table kept in step by triggers. Its rowid is the image id,
# so "newest matches first" is answered from the text index alone (ORDER BY rowid DESC). The migrations
# create these; they are listed here as the statements the head revision leaves in sqlite_master.
SQLITE_FTS_DDL = _sqlite_fts_ddl(SEARCHED_COLUMNS)


def mysql_ddl() -> str:
    """Render the MySQL DDL that `database/schema.sql` holds."""
    dialect = mysql.dialect()
    statements = []
    for table in metadata.sorted_tables:  # referenced tables first
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda index: index.name):
            statements.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    header = "-- Generated from annotation_core/schema.py by `make schema`. Do not edit by hand.\n"
    return header + "".join(f"\n{statement};\n" for statement in statements)


if __name__ == "__main__":
    print(mysql_ddl(), end="")
