"""Engines for the two supported databases and the idempotent schema set-up."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

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


def make_engine(
    url: sa.URL | str, password: Callable[..., str] | None = None, *, pool_size: int = 4, max_overflow: int = 4
) -> sa.Engine:
    """Create an engine tuned for its dialect; connects lazily.

    `password(refresh=False)` supplies the MySQL password for each new connection; after an access-denied
    answer it is asked again with `refresh=True`, so a rotated password is picked up without a restart.
    A Lambda container runs one invocation at a time: it passes `pool_size=1, max_overflow=0`.
    """
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _tune_sqlite)
        return engine
    # RDS closes idle connections; pre-ping and recycle keep warm Lambdas and web workers healthy.
    engine = sa.create_engine(
        url, pool_pre_ping=True, pool_recycle=1800, pool_size=pool_size, max_overflow=max_overflow
    )
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


MIGRATIONS = Path(__file__).parent / "migrations"

HEAD_REVISION = "0007"  # the newest file in migrations/versions (a test checks)
_LOCK_NAME = "image_annotation_schema"


def ensure_schema(engine: sa.Engine) -> None:
    """Bring the database to the head revision; cheap when it is there, safe when processes race.

    A database made by version 2.0 (tables, but no migration history) is recognised and upgraded in place.
    """
    if _current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    with _schema_lock(engine) as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        tables = sa.inspect(conn).get_table_names()
        if "images" in tables and "alembic_version" not in tables:
            command.stamp(config, "0001")
        command.upgrade(config, "head")
        conn.commit()
    log.info("database schema at revision %s", HEAD_REVISION)


def _current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def _schema_lock(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One migrating process at a time: MySQL's named lock, or a lock file beside the SQLite database."""
    with engine.connect() as conn:
        if engine.dialect.name == "mysql":
            if conn.execute(sa.text("SELECT GET_LOCK(:name, 120)"), {"name": _LOCK_NAME}).scalar() != 1:
                raise RuntimeError("another process held the schema lock for two minutes")
            try:
                yield conn
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
            return
        database = engine.url.database
        if not database or database == ":memory:":
            yield conn
            return
        with open(f"{database}.schema-lock", "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield conn
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
