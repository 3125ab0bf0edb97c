"""Jobs that always finish: when a job may run again, and when it last entered the queue.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    # Plain ADD COLUMN, which SQLite supports: a batch rebuild of the table would drop the FTS triggers.
    for job in ("thumbnail", "caption"):
        op.add_column("images", sa.Column(f"{job}_next_attempt_at", Timestamp))
        op.add_column("images", sa.Column(f"{job}_queued_at", Timestamp))
    # Jobs already queued count from their upload, so the sweeper treats their events as long lost.
    op.execute("UPDATE images SET thumbnail_queued_at = uploaded_at, caption_queued_at = uploaded_at")
