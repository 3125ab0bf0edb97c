"""The web edge under odd requests and a missing database: never a 500 for what a client can send, and a
503 that says to come back when the database is away."""

from __future__ import annotations

import time

import pytest

from annotation_core.bootstrap import bootstrap
from annotation_core.database import ensure_schema, make_engine
from annotation_core.settings import Settings
from conftest import ADMIN_PASSWORD, FAST_HASHING, TABLES
from tests import images
from tests.tcp_proxy import CuttableProxy
from tests.web_client import JSON, csrf_token, sign_in, upload

HUGE = str(2**63)  # one more than a BIGINT id can be


@pytest.mark.parametrize(
    "path", [f"/api/images/{HUGE}", f"/api/image_status/{HUGE}", f"/images/{HUGE}", "/api/images/0", "/images/007x"]
)
def test_ids_no_row_can_have_are_404_not_database_errors(client, path):
    response = client.get(path, headers=JSON)
    assert response.status_code == 404
    assert "error" in response.get_json()


@pytest.mark.parametrize(
    "query", [f"ids={HUGE}", "ids=1,²", "limit=²", "cursor=YmVmb3JlOrI"], ids=["huge", "super2", "limit", "cursor"]
)
def test_query_values_python_reads_as_digits_but_int_refuses_are_400(client, query):
    path = "/api/image_status" if query.startswith("ids") else "/api/images"
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400 and "error" in response.get_json()


def test_a_method_a_path_does_not_take_is_405_saying_which_it_does(client):
    response = client.put("/api/images/1", headers=JSON)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}
    assert "error" in response.get_json()


@pytest.fixture
def app_behind_proxy(mysql_engine, tmp_path):
    """`start(**settings)`: the app on MySQL through a proxy the test can cut, so the database goes away under
    a running app; returns (app, signed-in client, proxy)."""
    from web_app.app import create_app

    ensure_schema(mysql_engine)
    with mysql_engine.begin() as conn:  # rows of earlier tests hold the same bytes: start empty
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        for table in TABLES:
            conn.exec_driver_sql(f"TRUNCATE TABLE {table}")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
    url = mysql_engine.url
    started = []

    def start(**overrides):
        proxy = CuttableProxy((url.host, url.port or 3306)).start()
        engine = make_engine(url.set(host="127.0.0.1", port=proxy.port))
        settings = Settings(
            data_dir=str(tmp_path / "outage"), admin_password=ADMIN_PASSWORD, **FAST_HASHING, **overrides
        )
        app = create_app(services=bootstrap(settings, engine=engine))
        started.append((app, proxy, engine))
        return app, sign_in(app.test_client(), "admin", ADMIN_PASSWORD), proxy

    yield start
    for app, proxy, engine in started:
        proxy.cut()
        app.extensions["local_worker"].stop()
        engine.dispose()


@pytest.fixture
def outage(app_behind_proxy):
    return app_behind_proxy()


@pytest.mark.mysql
def test_while_the_database_is_away_uploads_are_503_and_store_nothing_then_it_recovers(outage, tmp_path):
    app, client, proxy = outage
    token = csrf_token(client)
    proxy.cut()

    response = upload(client, (images.jpeg(), "a.jpg"), headers={"X-CSRFToken": token}, token=False)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "database is unavailable" in response.get_json()["error"]
    assert not any((tmp_path / "outage").rglob("uploads/*"))
    listing = client.get("/api/images")
    assert listing.status_code == 503 and listing.headers["Retry-After"] == "30"
    assert client.get("/health").status_code == 200
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.get_json()["status"] == "unavailable"

    proxy.restore()  # the database is back: no restart needed

    assert client.get("/ready").get_json() == {"status": "ready"}
    accepted = upload(client, (images.jpeg(), "a.jpg"), headers={"X-CSRFToken": token}, token=False)
    assert accepted.status_code == 202
    assert app.extensions["local_worker"].drain()
    image_id = accepted.get_json()["images"][0]["id"]
    assert client.get(f"/api/images/{image_id}").get_json()["thumbnail_status"] == "completed"


def test_ready_is_ready_with_a_database(client):
    assert client.get("/ready").get_json() == {"status": "ready"}


def test_an_unwritable_bucket_is_503_with_retry_after_and_leaves_no_row(client, services):
    services.originals.root.parent.mkdir(parents=True, exist_ok=True)
    services.originals.root.write_text("a file where the bucket folder should be")

    response = upload(client, (images.jpeg(), "a.jpg"))

    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert services.repository.page() == []
    assert csrf_token(client)  # the app still serves pages


@pytest.mark.mysql
def test_jobs_in_flight_when_the_database_goes_away_are_done_again_later_without_a_restart(
    app_behind_proxy, fake_gemini
):
    lease = 8  # short (5 s of it are kept to record the outcome): a job that could not record it is taken up again
    app, client, proxy = app_behind_proxy(
        gemini_api_key="key", gemini_base_url=fake_gemini.base_url, job_lease_seconds=lease
    )
    services = app.extensions["annotation"]
    fake_gemini.delay_seconds = 1.0  # the caption is being written when the database goes
    image_id = upload(client, (images.jpeg(), "a.jpg")).get_json()["images"][0]["id"]
    wait_for(lambda: len(fake_gemini.requests) == 1)

    proxy.cut()  # the answer arrives while the database is away: the outcome cannot be recorded
    time.sleep(fake_gemini.delay_seconds + 0.5)
    fake_gemini.delay_seconds = 0.0
    proxy.restore()

    # The sweeper wakes when the lease runs out (not at its next half-minute round)
    wait_for(lambda: services.repository.get(image_id).caption_status == "completed", timeout=lease * 2)
    row = services.repository.get(image_id)
    assert (row.caption_attempts, len(fake_gemini.requests)) == (2, 2)  # done again, once
    assert row.thumbnail_status == "completed"
    assert app.extensions["local_worker"] is not None  # the same worker: nothing was restarted


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("method", ["delete", "patch"])
@pytest.mark.parametrize("image_id", ["0", HUGE])
def test_other_methods_on_an_id_no_row_can_have_are_404_not_405(client, method, image_id):
    response = getattr(client, method)(f"/api/images/{image_id}", headers={**JSON, "X-CSRFToken": csrf_token(client)})
    assert response.status_code == 404 and "error" in response.get_json()
