"""The images table as version 2.0 created it: two jobs, FULLTEXT on MySQL, FTS5 on SQLite.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATES = ("pending", "processing", "completed", "failed")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_FTS = (
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


def _state(name: str) -> sa.Column:
    return sa.Column(name, sa.String(16), nullable=False, server_default="pending")


def _state_check(name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{name} IN {STATES}", name=f"{name}_state")


def upgrade() -> None:
    op.create_table(
        "images",
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
        _state("thumbnail_status"),
        sa.Column("thumbnail_key", sa.String(255)),
        sa.Column("thumbnail_error", sa.Text),
        sa.Column("thumbnail_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("thumbnail_started_at", Timestamp),
        sa.Column("thumbnail_finished_at", Timestamp),
        _state("caption_status"),
        sa.Column("caption", sa.Text),
        sa.Column("caption_model", sa.String(128)),
        sa.Column("caption_error", sa.Text),
        sa.Column("caption_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("caption_started_at", Timestamp),
        sa.Column("caption_finished_at", Timestamp),
        _state_check("thumbnail_status"),
        _state_check("caption_status"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.create_index("ix_images_thumbnail_status", "images", ["thumbnail_status"])
    op.create_index("ix_images_caption_status", "images", ["caption_status"])
    if op.get_bind().dialect.name == "mysql":
        op.create_index("ix_images_fulltext", "images", ["caption", "filename"], mysql_prefix="FULLTEXT")
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)
