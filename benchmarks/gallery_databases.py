"""The filled databases the gallery benchmark reads: a cached SQLite file, and MariaDB's own bench database.

Generating a million rows takes a minute or two, so both are kept between runs and refilled only when the
schema revision, the generator or the row count changes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from annotation_core.bootstrap import Services, bootstrap
from annotation_core.database import HEAD_REVISION, make_engine
from annotation_core.settings import Settings
from benchmarks.gallery_data import GENERATOR_VERSION, fill

CACHE_DIR = Path(__file__).parent / "cache"
# The account the app creates as its first admin (who sees every image); the benchmark signs in as it.
BENCH_ADMIN = {"admin_username": "bench", "admin_password": "bench-password"}


def _key(count: int) -> str:
    return f"r{HEAD_REVISION}-g{GENERATOR_VERSION}-{count}"


@contextmanager
def sqlite_services(count: int, quick: bool, tmp: Path) -> Iterator[Services]:
    """Services over a SQLite file of `count` generated rows (kept in benchmarks/cache/ unless quick)."""
    folder = tmp / "sqlite" if quick else CACHE_DIR / f"gallery-sqlite-{_key(count)}"
    ready = folder / "filled"
    if not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        for stale in CACHE_DIR.glob("gallery-sqlite-*") if not quick else ():
            shutil.rmtree(stale)  # an older revision's file: a million rows take ~1 GB
    services = bootstrap(Settings(data_dir=str(folder), **BENCH_ADMIN), migrate=True)
    try:
        if not ready.exists():
            fill(services.engine, count)
            ready.touch()
        yield services
    finally:
        services.close()


def mysql_url() -> sa.URL | None:
    """The bench database beside the one TEST_MYSQL_URL names (`<name>_bench`), or None when it is not set."""
    raw = os.environ.get("TEST_MYSQL_URL")
    if not raw:
        return None
    url = sa.make_url(raw)
    return url.set(database=f"{url.database}_bench")


@contextmanager
def mysql_services(url: sa.URL, count: int, quick: bool, tmp: Path) -> Iterator[Services]:
    """Services over `url` (suffixed `_quick` when quick) holding `count` generated rows, created when missing."""
    if quick:
        url = url.set(database=f"{url.database}_quick")
    server = make_engine(url.set(database="information_schema"))
    marker = _key(count)
    with server.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{url.database}` CHARACTER SET utf8mb4")
        filled = conn.exec_driver_sql(
            "SELECT table_comment FROM information_schema.tables WHERE table_schema = %s AND table_name = 'images'",
            (url.database,),
        ).scalar()
        if filled != marker:  # a half-filled or older database: start again
            conn.exec_driver_sql(f"DROP DATABASE `{url.database}`")
            conn.exec_driver_sql(f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4")
    server.dispose()
    settings = Settings(
        data_dir=str(tmp / "mysql"),
        db_host=url.host,
        db_port=url.port or 3306,
        db_user=url.username,
        db_password=url.password or "",
        db_name=url.database,
        **BENCH_ADMIN,
    )
    services = bootstrap(settings, migrate=True)
    try:
        if filled != marker:
            fill(services.engine, count)
            with services.engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE images COMMENT = '{marker}'")
        yield services
    finally:
        services.close()
