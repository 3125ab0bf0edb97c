"""Engines: SQLite tuning, idempotent schema creation, and a MySQL password that rotates under us."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from annotation_core.database import create_schema, make_engine
from conftest import MYSQL_URL


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'a.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()


def test_schema_creation_is_idempotent_and_safe_in_parallel(engine):
    errors = []

    def create():
        try:
            create_schema(engine)
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert "images" in sa.inspect(engine).get_table_names()


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
def test_committed_schema_sql_applies_to_mysql(mysql_engine):
    from pathlib import Path

    from annotation_core.schema import metadata

    text = (Path(__file__).parents[2] / "database" / "schema.sql").read_text()
    statements = "\n".join(line for line in text.splitlines() if not line.startswith("--")).split(";")
    metadata.drop_all(mysql_engine)
    try:
        with mysql_engine.begin() as conn:
            for statement in statements:
                if statement.strip():
                    conn.exec_driver_sql(statement)
        columns = {column["name"] for column in sa.inspect(mysql_engine).get_columns("images")}
        assert {"thumbnail_status", "caption_status", "sha256", "caption_model"} <= columns
    finally:
        metadata.drop_all(mysql_engine)
