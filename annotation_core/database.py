"""Engines for the two supported databases and the idempotent schema set-up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from annotation_core.schema import metadata
from annotation_core.settings import Settings

log = logging.getLogger(__name__)


def database_url(settings: Settings) -> sa.URL:
    """MySQL when DB_HOST is set, else a SQLite file in DATA_DIR."""
    if settings.uses_mysql:
        return sa.URL.create(
            "mysql+mysqlconnector",
            username=settings.db_user,
            password=settings.db_password or None,
            host=settings.db_host,
            port=settings.db_port,
            database=settings.db_name,
        )
    return sa.URL.create("sqlite", database=str(Path(settings.data_dir) / "annotations.db"))


MYSQL_ACCESS_DENIED = 1045


def make_engine(url: sa.URL | str, password: Callable[..., str] | None = None) -> sa.Engine:
    """Create an engine tuned for its dialect; connects lazily.

    `password(refresh=False)` supplies the MySQL password for each new connection; after an access-denied
    answer it is asked again with `refresh=True`, so a rotated password is picked up without a restart.
    """
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _tune_sqlite)
        return engine
    # RDS closes idle connections; pre-ping and recycle keep warm Lambdas and web workers healthy.
    engine = sa.create_engine(url, pool_pre_ping=True, pool_recycle=1800, pool_size=5, max_overflow=5)
    if password is not None:
        sa.event.listen(engine, "do_connect", _connect_with(password))
    return engine


def _connect_with(password: Callable[..., str]):
    def connect(dialect, _record, cargs, cparams):
        cparams["password"] = password()
        try:
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.Error as error:
            if getattr(error, "errno", None) != MYSQL_ACCESS_DENIED:
                raise
            log.info("database refused the password; reading the secret again")
            cparams["password"] = password(refresh=True)
            return dialect.loaded_dbapi.connect(*cargs, **cparams)

    return connect


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_schema(engine: sa.Engine, attempts: int = 3) -> None:
    """Create missing tables; safe when several processes start at once."""
    for attempt in range(1, attempts + 1):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except sa.exc.DatabaseError as error:  # another process created it between check and create
            if attempt == attempts:
                raise
            log.warning("schema creation raced (%s); checking again", error.orig)
            time.sleep(0.2 * attempt)
