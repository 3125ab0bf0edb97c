"""Renditions and photo facts: the preview, rendition sizes, a placeholder, what the EXIF says; sort by date taken.

Existing rows get the new columns empty; `flask --app web_app.app renditions backfill` fills them.

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    # Plain ADD COLUMN, which SQLite supports: a batch rebuild of the table would drop the FTS triggers.
    for column in (
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
    ):
        op.add_column("images", column)
    op.create_index("ix_images_taken_at", "images", ["taken_at", "id"])
