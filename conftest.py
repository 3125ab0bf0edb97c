"""Fixtures shared by every test: settings in a temp folder, a real database, services, the app."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from annotation_core.bootstrap import Services, bootstrap
from annotation_core.database import ensure_schema, make_engine
from annotation_core.settings import Settings


def _this_workers_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own database beside TEST_MYSQL_URL's (`test_gw0`, ...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = sa.make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


MYSQL_URL = _this_workers_database(os.environ.get("TEST_MYSQL_URL", ""))
REQUIRE_MYSQL = os.environ.get("REQUIRE_MYSQL_TESTS") == "1"
ADMIN_PASSWORD = "admin-password-for-tests"
# Argon2 at its cheapest (the settings allow it): a test signs in in well under a millisecond.
FAST_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 64}
TABLES = ("api_tokens", "images", "rate_limits", "users")

# Property-based tests: no per-example deadline (a shared CI machine is slow now and then); each test sets
# its own bounded max_examples. HYPOTHESIS_PROFILE=ci (set by .ci/run) makes every run draw the same cases.
_HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
hypothesis_settings.register_profile("dev", **_HYPOTHESIS)
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_HYPOTHESIS)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def mysql_engine() -> Iterator[sa.Engine]:
    """The MySQL/MariaDB named by TEST_MYSQL_URL; skipped without it (CI sets it and requires it)."""
    if not MYSQL_URL:
        if REQUIRE_MYSQL:
            pytest.fail("REQUIRE_MYSQL_TESTS=1 but TEST_MYSQL_URL is not set")
        pytest.skip("TEST_MYSQL_URL is not set: MySQL tests skipped")
    engine = make_engine(MYSQL_URL)
    try:
        _create_database(sa.make_url(MYSQL_URL))
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        pytest.fail(f"TEST_MYSQL_URL={MYSQL_URL} is set but does not answer: {error}")
    yield engine
    engine.dispose()


def _create_database(url: sa.URL) -> None:
    server = make_engine(url.set(database="mysql"))  # the server's own database always exists
    try:
        with server.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{url.database}`")
    finally:
        server.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory) -> str:
    """A SQLite database the migrations brought to the head revision, copied by each test (much faster)."""
    path = tmp_path_factory.mktemp("template") / "annotations.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    engine.dispose()
    return str(path)


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request, tmp_path) -> Iterator[sa.Engine]:
    """A real, empty database with the schema: SQLite always, and MySQL when TEST_MYSQL_URL is set."""
    if request.param == "sqlite":
        path = tmp_path / "annotations.db"  # the file DATA_DIR=tmp_path names
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("mysql_engine")
    ensure_schema(engine)  # cheap at the head revision; a test may have dropped the tables
    with engine.begin() as conn:  # fast, and ids start at 1 again
        _end_abandoned_transactions(conn)
        conn.exec_driver_sql("SET SESSION lock_wait_timeout = 30")  # a clear error, not the suite's timeout
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        for table in TABLES:
            conn.exec_driver_sql(f"TRUNCATE TABLE {table}")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
    yield engine


def _end_abandoned_transactions(conn: sa.Connection) -> None:
    """Disconnect idle connections that an earlier test left inside a transaction on this database (a thread
    it started that outlived it, an engine it never disposed of): their table locks would make TRUNCATE wait
    for ever. Only idle ones: a connection still working belongs to something running."""
    abandoned = conn.exec_driver_sql(
        "SELECT p.ID FROM information_schema.PROCESSLIST p"
        " JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID"
        " WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID() AND p.COMMAND = 'Sleep'"
    ).scalars()
    for connection_id in abandoned:
        try:
            conn.exec_driver_sql(f"KILL CONNECTION {int(connection_id)}")
        except sa.exc.DatabaseError as error:
            if getattr(error.orig, "errno", None) != 1094:  # "Unknown thread id": it ended by itself meanwhile
                raise


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        thumbnail_width=128,
        thumbnail_height=128,
        admin_password=ADMIN_PASSWORD,
        **FAST_HASHING,
    )


@pytest.fixture
def gemini_settings(tmp_path, fake_gemini) -> Settings:
    """Settings whose captions come from the fake Gemini server; modules derive theirs with `replace`."""
    return Settings(
        data_dir=str(tmp_path / "data"),
        thumbnail_width=128,
        thumbnail_height=128,
        gemini_api_key="test-key",
        gemini_base_url=fake_gemini.base_url,
        job_retry_base_seconds=0.2,
        admin_password=ADMIN_PASSWORD,
        **FAST_HASHING,
    )


@pytest.fixture
def app(settings, engine):
    """The web app in embedded mode over the `engine` database, with this test's own in-process worker."""
    from web_app.app import create_app

    app = create_app(services=bootstrap(settings, engine=engine))
    app.config["TESTING"] = True
    yield app
    app.extensions["local_worker"].stop()


@pytest.fixture
def services(app) -> Services:
    """The app's services: local-folder buckets, jobs announced to its worker."""
    return app.extensions["annotation"]


@pytest.fixture
def worker(app):
    """The app's local worker (`worker.drain()` waits until every queued job has run)."""
    return app.extensions["local_worker"]


@pytest.fixture
def client(app):
    """A browser signed in as the first admin (ADMIN_USERNAME "admin", ADMIN_PASSWORD)."""
    from tests.web_client import sign_in

    return sign_in(app.test_client(), "admin", ADMIN_PASSWORD)


@pytest.fixture
def anonymous(app):
    """A browser that has not signed in."""
    return app.test_client()


@pytest.fixture
def client_as(app):
    """`client_as("member")`: a browser signed in as a new account of that role (named after it)."""
    from tests.web_client import add_user, sign_in

    def signed_in(role: str, username: str | None = None):
        name = username or role
        add_user(app, name, role)
        return sign_in(app.test_client(), name, f"{name}-password")

    return signed_in


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and region, so nothing can reach (or be billed by) real AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


class LambdaContext:
    """The attributes of the Lambda runtime's context object that code may read."""

    function_name = "test-function"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def fake_gemini():
    """A fake Gemini API on 127.0.0.1 that the real SDK talks to (see tests/fake_gemini.py)."""
    from tests.fake_gemini import FakeGemini

    with FakeGemini() as fake:
        fake.caption = "A small red rectangle."
        yield fake


@pytest.fixture
def fake_openai():
    """A fake OpenAI-compatible server on 127.0.0.1 that the real `openai` SDK talks to (tests/fake_openai.py)."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def moto_server(aws_env) -> Iterator[str]:
    """moto's AWS over real HTTP on 127.0.0.1 (for presigned URLs); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    server._server.server_close()
