"""Engines and migrations: SQLite tuning, migrations that build exactly the table definition (and upgrade a
2.0 database in place), safe when processes race, and a MySQL password that rotates under us."""

from __future__ import annotations

import re
import threading
import time
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from annotation_core.database import HEAD_REVISION, MIGRATIONS, database_url, ensure_schema, make_engine
from annotation_core.schema import SQLITE_FTS_DDL, images, metadata
from annotation_core.search import text_match
from annotation_core.settings import Settings
from conftest import MYSQL_URL


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def empty_engine(request, tmp_path):
    """A database with no tables at all: a new SQLite file, or the MySQL test database emptied."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("mysql_engine")
    drop_everything(engine)
    yield engine
    drop_everything(engine)  # the next test's `engine` fixture migrates again


def drop_everything(engine) -> None:
    with engine.begin() as conn:  # referencing tables first
        for table in ("api_tokens", "images", "users", "rate_limits", "alembic_version"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'nested' / 'a.db'}")  # a DATA_DIR not made yet
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1, "NORMAL: safe in WAL mode, fewer fsyncs"
    engine.dispose()


def test_db_host_chooses_mysql_with_the_settings_credentials_else_a_sqlite_file_in_the_data_dir(tmp_path):
    mysql = Settings(
        data_dir=str(tmp_path), db_host="db.internal", db_port=3307, db_user="app", db_password="pw", db_name="photos"
    )
    assert (
        database_url(mysql).render_as_string(hide_password=False)
        == "mysql+mysqlconnector://app:pw@db.internal:3307/photos"
    )
    no_password = database_url(Settings(data_dir=str(tmp_path), db_host="db.internal"))  # the secret supplies it
    assert (no_password.password, no_password.port, no_password.database) == (None, 3306, "image_annotation_db")
    assert database_url(Settings(data_dir=str(tmp_path))) == sa.URL.create(
        "sqlite", database=str(tmp_path / "annotations.db")
    )


def test_a_mysql_engine_is_pooled_as_asked_and_only_access_denied_reads_the_password_again():
    asked = []

    def password(refresh: bool = False) -> str:
        asked.append(refresh)
        return "secret"

    unreachable = "mysql+mysqlconnector://app@127.0.0.1:1/photos"  # nothing listens on port 1
    lambda_engine = make_engine(unreachable, password, pool_size=1, max_overflow=0)
    assert (lambda_engine.pool.size(), lambda_engine.pool._max_overflow) == (1, 0)
    web_engine = make_engine(unreachable)
    assert (web_engine.pool.size(), web_engine.pool._max_overflow) == (4, 4)
    assert (web_engine.pool._pre_ping, web_engine.pool._recycle) == (True, 1800), "RDS drops idle connections"
    assert asked == [], "an engine connects lazily"
    with pytest.raises(sa.exc.InterfaceError, match="2003"):  # refused connection: the password is not the cause
        lambda_engine.connect()
    assert asked == [False]


def test_migrating_is_idempotent_and_safe_in_parallel(empty_engine):
    errors = []

    def migrate():
        try:
            ensure_schema(empty_engine)
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with empty_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [HEAD_REVISION]


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_gets_the_schema_with_no_folder_or_lock_file(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD_REVISION
    engine.dispose()
    assert list(tmp_path.iterdir()) == []


def test_access_denied_reads_the_password_once_more_and_other_refusals_are_raised_as_they_are():
    """The password hook's rule without a server (the MySQL test below shows it against a real one): after
    access denied (1045) the secret is read again with refresh=True and the connection retried once."""
    import mysql.connector

    from annotation_core.database import _connect_with

    current = {"password": "rotated"}
    tried, asked = [], []

    def server_connect(*args, **params):
        tried.append((args, params))
        if params["password"] != current["password"]:
            raise mysql.connector.errors.ProgrammingError(errno=1045, msg="Access denied for user 'app'")
        return f"connection as {params['user']}"

    def password(refresh: bool = False) -> str:
        asked.append(refresh)
        return current["password"] if refresh else "cached"

    dialect = SimpleNamespace(loaded_dbapi=SimpleNamespace(Error=mysql.connector.Error, connect=server_connect))
    connect = _connect_with(password)

    assert connect(dialect, None, [], {"user": "app", "host": "db"}) == "connection as app"
    assert asked == [False, True]
    assert tried == [((), {"user": "app", "host": "db", "password": p}) for p in ("cached", "rotated")]

    def unreachable(*args, **params):
        raise mysql.connector.errors.InterfaceError(errno=2003, msg="Can't connect to MySQL server")

    dialect.loaded_dbapi.connect = unreachable
    asked.clear()
    with pytest.raises(mysql.connector.errors.InterfaceError, match="2003"):
        connect(dialect, None, [], {"user": "app"})
    assert asked == [False], "only access denied is worth reading the secret again"


def test_a_database_at_the_head_revision_is_only_asked_its_revision(tmp_path):
    """Every web worker and cold Lambda calls ensure_schema: at the head it must cost one look, not a migration."""
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    ensure_schema(engine)
    statements = []

    def keep(_conn, _cursor, statement, *_):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", keep)
    ensure_schema(engine)
    sa.event.remove(engine, "before_cursor_execute", keep)
    engine.dispose()
    queries = [statement.lower() for statement in statements if not statement.startswith("PRAGMA")]
    assert queries == ["select version_num from alembic_version"]


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """Leave SQLite's FTS5 tables to the FTS test below, and MySQL's FULLTEXT index to MySQL."""
    return not (type_ == "table" and name.startswith("images_fts"))


def test_the_migrations_build_exactly_the_table_definition(engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"include_object": _ours}), metadata)
    if engine.dialect.name == "sqlite":  # the FULLTEXT index exists on MySQL only; SQLite has FTS5 instead
        differences = [d for d in differences if not (d[0] == "add_index" and d[1].name == "ix_images_fulltext")]
    assert differences == []


def test_sqlite_text_search_structures_are_the_ones_the_schema_lists(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    ensure_schema(engine)
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name LIKE 'images_fts%' AND sql IS NOT NULL")
        created = {_normal(sql) for sql in found.scalars() if "CREATE TABLE" not in sql}  # FTS5's own shadow tables
    engine.dispose()
    assert created == {_normal(sql.replace(" IF NOT EXISTS", "")) for sql in SQLITE_FTS_DDL}


def _normal(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def test_head_revision_is_the_newest_migration():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_a_version_2_0_database_is_upgraded_in_place_keeping_its_images(empty_engine):
    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with empty_engine.begin() as conn:  # what 2.0's create_all made: the tables, no migration history
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.exec_driver_sql(
            "INSERT INTO images (original_key, filename, mime_type, size_bytes, width, height, sha256, uploaded_at, "
            "updated_at, caption_status, caption) VALUES ('uploads/old.jpg', 'old.jpg', 'image/jpeg', 1, 1, 1, "
            "'0123', '2026-01-02 03:04:05', '2026-01-02 03:04:05', 'completed', 'A windmill by a canal.')"
        )

    ensure_schema(empty_engine)

    with empty_engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT filename, caption_queued_at, thumbnail_status FROM images").one()
        assert (row[0], str(row[1])[:19], row[2]) == ("old.jpg", "2026-01-02 03:04:05", "pending")
        match = text_match(conn, "windmill")
        assert conn.execute(sa.select(sa.func.count()).select_from(images).where(match)).scalar() == 1


@pytest.mark.mysql
def test_rotated_mysql_password_is_read_again_on_access_denied(mysql_engine):
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql("DROP USER IF EXISTS 'rotating'@'%'")
        conn.exec_driver_sql("CREATE USER 'rotating'@'%' IDENTIFIED BY 'new-password'")
        conn.exec_driver_sql("GRANT SELECT ON *.* TO 'rotating'@'%'")
    answers = iter(["old-password", "new-password"])
    asked = []

    def password(refresh: bool = False) -> str:
        asked.append(refresh)
        return next(answers)

    url = sa.make_url(MYSQL_URL).set(username="rotating", password=None)
    engine = make_engine(url, password)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT CURRENT_USER()").scalar().startswith("rotating@")
    finally:
        engine.dispose()
        with mysql_engine.begin() as conn:
            conn.exec_driver_sql("DROP USER IF EXISTS 'rotating'@'%'")
    assert asked == [False, True]


@pytest.mark.mysql
def test_a_connection_the_server_closed_while_idle_is_replaced_unnoticed(mysql_engine):
    """What RDS's wait_timeout (stack 02) does to a warm Lambda's or web worker's pooled connection."""
    engine = make_engine(MYSQL_URL, pool_size=1, max_overflow=0)
    sa.event.listen(engine, "connect", lambda connection, _: _short_wait_timeout(connection))
    try:
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        time.sleep(2.5)  # the server drops the idle connection after 1 s
        with engine.connect() as conn:
            second = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
    finally:
        engine.dispose()
    assert second != first, "the pool handed out a new connection, not the dead one"


def _short_wait_timeout(connection) -> None:
    cursor = connection.cursor()
    cursor.execute("SET SESSION wait_timeout = 1")
    cursor.close()


@pytest.mark.mysql
def test_committed_schema_sql_applies_to_mysql(mysql_engine):
    from pathlib import Path

    text = (Path(__file__).parents[2] / "database" / "schema.sql").read_text()
    statements = "\n".join(line for line in text.splitlines() if not line.startswith("--")).split(";")
    drop_everything(mysql_engine)
    try:
        with mysql_engine.begin() as conn:
            for statement in statements:
                if statement.strip():
                    conn.exec_driver_sql(statement)
        columns = {column["name"] for column in sa.inspect(mysql_engine).get_columns("images")}
        assert {"thumbnail_status", "caption_status", "sha256", "caption_model", "caption_next_attempt_at"} <= columns
        assert {"users", "api_tokens", "rate_limits"} <= set(sa.inspect(mysql_engine).get_table_names())
    finally:
        drop_everything(mysql_engine)
