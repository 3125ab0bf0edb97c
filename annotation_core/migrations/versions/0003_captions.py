"""Captions worth keeping: the model's structured answer and its provenance, people's edits beside it,
and a text search over all of them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

COLUMNS = (
    sa.Column("alt_text", sa.Text),
    sa.Column("tags", sa.Text),
    sa.Column("text_in_image", sa.Text),
    sa.Column("caption_provider", sa.String(32)),
    sa.Column("caption_prompt_version", sa.String(16)),
    sa.Column("caption_language", sa.String(35)),
    sa.Column("caption_input_tokens", sa.Integer),
    sa.Column("caption_output_tokens", sa.Integer),
    sa.Column("caption_latency_ms", sa.Integer),
    sa.Column("captioned_at", Timestamp),
    sa.Column("edited_caption", sa.Text),
    sa.Column("edited_alt_text", sa.Text),
    sa.Column("edited_tags", sa.Text),
    sa.Column("edited_at", Timestamp),
)
SEARCHED = (
    "caption",
    "alt_text",
    "tags",
    "text_in_image",
    "edited_caption",
    "edited_alt_text",
    "edited_tags",
    "filename",
)


def _sqlite_fts(columns: tuple[str, ...]) -> list[str]:
    listed = ", ".join(columns)
    new, old = (", ".join(f"{row}.{column}" for column in columns) for row in ("new", "old"))
    delete = f"INSERT INTO images_fts(images_fts, rowid, {listed}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO images_fts(rowid, {listed}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE images_fts USING fts5({listed}, content='images', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN {insert} END",
        f"CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN {delete} END",
        f"CREATE TRIGGER images_fts_update AFTER UPDATE OF {listed} ON images BEGIN {delete} {insert} END",
    ]


def upgrade() -> None:
    # Plain ADD COLUMN, which SQLite supports: a batch rebuild of the table would drop the FTS triggers.
    for column in COLUMNS:
        op.add_column("images", column)
    # Existing captions were written by Gemini, as a caption only.
    op.execute("UPDATE images SET caption_provider = 'gemini' WHERE caption_model IS NOT NULL")
    if op.get_bind().dialect.name == "mysql":
        op.drop_index("ix_images_fulltext", table_name="images")
        op.create_index("ix_images_fulltext", "images", list(SEARCHED), mysql_prefix="FULLTEXT")
        return
    for name in ("images_fts_insert", "images_fts_delete", "images_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS images_fts")
    for statement in _sqlite_fts(SEARCHED):
        op.execute(statement)
    op.execute("INSERT INTO images_fts(images_fts) VALUES ('rebuild')")
