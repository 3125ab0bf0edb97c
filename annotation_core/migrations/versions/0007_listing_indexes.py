"""Listings at a million photos: indexes that lead with what every listing filters on and end in id order, and
SQLite's view of the text index's vocabulary.

The trash index and the two job-state indexes gain (deleted_at, id) so that "live images, newest first" and
"failed captions, live, newest first" are one range read in id order, stopping after a page, on MariaDB too
(which otherwise reads every live row's entry for a deep page). `images_fts_terms` lets a search spell its
last word's prefix as the few whole terms that start with it, which FTS5 reads newest first.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_images_deleted_at": ["deleted_at", "id"],
    "ix_images_thumbnail_status": ["thumbnail_status", "deleted_at", "id"],
    "ix_images_caption_status": ["caption_status", "deleted_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="images")
        op.create_index(name, "images", columns)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE images_fts_terms USING fts5vocab(images_fts, 'row')")
