"""The web edge under odd requests and a missing database: never a 500 for what a client can send, and a
503 that says to come back when the database is away."""

from __future__ import annotations

import pytest

from annotation_core.bootstrap import bootstrap
from annotation_core.database import make_engine
from annotation_core.settings import Settings
from tests import images
from tests.web_client import JSON, csrf_token, upload

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
def app_without_database(tmp_path):
    """The app as an instance sees it while the database does not answer (nothing listens on port 1)."""
    from web_app.app import create_app

    engine = make_engine("mysql+mysqlconnector://root@127.0.0.1:1/gone")
    app = create_app(services=bootstrap(Settings(data_dir=str(tmp_path / "down")), engine=engine))
    yield app
    if app.extensions["local_worker"] is not None:
        app.extensions["local_worker"].stop()


def test_without_a_database_uploads_are_503_with_retry_after_and_store_nothing(app_without_database, tmp_path):
    client = app_without_database.test_client()
    response = upload(client, (images.jpeg(), "a.jpg"))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "database is unavailable" in response.get_json()["error"]
    assert not any((tmp_path / "down").rglob("*.jpg"))
    listing = client.get("/api/images")
    assert listing.status_code == 503 and listing.headers["Retry-After"] == "30"


def test_ready_asks_the_database_and_health_does_not(app_without_database, client):
    down = app_without_database.test_client()
    assert down.get("/health").status_code == 200
    ready = down.get("/ready")
    assert ready.status_code == 503 and ready.get_json()["status"] == "unavailable"
    assert client.get("/ready").get_json() == {"status": "ready"}


def test_an_unwritable_bucket_is_503_with_retry_after_and_leaves_no_row(client, services):
    services.originals.root.parent.mkdir(parents=True, exist_ok=True)
    services.originals.root.write_text("a file where the bucket folder should be")

    response = upload(client, (images.jpeg(), "a.jpg"))

    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert services.repository.page() == []
    assert csrf_token(client)  # the app still serves pages
