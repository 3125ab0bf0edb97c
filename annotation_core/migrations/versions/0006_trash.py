"""The trash: a deleted image is hidden at once and kept until the sweeper purges it (TRASH_RETENTION_DAYS).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    # Plain ADD COLUMN, which SQLite supports: a batch rebuild of the table would drop the FTS triggers.
    op.add_column("images", sa.Column("deleted_at", Timestamp))
    op.create_index("ix_images_deleted_at", "images", ["deleted_at"])
