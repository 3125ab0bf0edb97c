"""Alembic's entry point: migrate the connection `ensure_schema` hands over (no alembic.ini, no URL)."""

from alembic import context

from annotation_core.schema import metadata

connection = context.config.attributes["connection"]
# SQLite cannot ALTER most things in place; batch mode rebuilds the table when a migration needs it.
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
