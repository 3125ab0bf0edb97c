"""Accounts and access: users, their API tokens, rate-limit counters, and who uploaded each image.

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROLES = ("admin", "member", "viewer")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(name="user_disabled"), nullable=False, server_default=sa.false()),
        sa.Column(
            "must_change_password", sa.Boolean(name="user_must_change"), nullable=False, server_default=sa.false()
        ),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(f"role IN {ROLES}", name="user_role"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("user_id", RowId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_used_at", Timestamp),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "rate_limits",
        sa.Column("rate_key", sa.String(191), primary_key=True),
        sa.Column("window_started_at", Timestamp, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        **TABLE_OPTIONS,
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its REFERENCES clause in place; a batch rebuild would drop the FTS triggers.
        op.execute(
            "ALTER TABLE images ADD COLUMN uploaded_by INTEGER CONSTRAINT fk_images_uploaded_by REFERENCES users (id)"
        )
    else:
        op.add_column("images", sa.Column("uploaded_by", RowId))
        op.create_foreign_key("fk_images_uploaded_by", "images", "users", ["uploaded_by"], ["id"])
    op.create_index("ix_images_uploaded_by", "images", ["uploaded_by", "uploaded_at"])
