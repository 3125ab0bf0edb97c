"""Alembic migrations of the metadata database; `annotation_core.database.ensure_schema` runs them."""
