"""The web edge under odd requests and a missing database: never a 500 for what a client can send, and a
503 that says to come back when the database is away."""

from __future__ import annotations

import pytest

from annotation_core.bootstrap import bootstrap
from annotation_core.database import ensure_schema, make_engine
from annotation_core.settings import Settings
from conftest import ADMIN_PASSWORD, FAST_HASHING
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
def outage(mysql_engine, tmp_path):
    """The app on MySQL through a proxy the test can cut: the database goes away under a running app."""
    from web_app.app import create_app

    ensure_schema(mysql_engine)
    url = mysql_engine.url
    proxy = CuttableProxy((url.host, url.port or 3306)).start()
    engine = make_engine(url.set(host="127.0.0.1", port=proxy.port))
    settings = Settings(data_dir=str(tmp_path / "outage"), admin_password=ADMIN_PASSWORD, **FAST_HASHING)
    app = create_app(services=bootstrap(settings, engine=engine))
    client = sign_in(app.test_client(), "admin", ADMIN_PASSWORD)
    yield app, client, proxy
    proxy.cut()
    app.extensions["local_worker"].stop()
    engine.dispose()


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


@pytest.mark.parametrize("method", ["delete", "patch"])
@pytest.mark.parametrize("image_id", ["0", HUGE])
def test_other_methods_on_an_id_no_row_can_have_are_404_not_405(client, method, image_id):
    response = getattr(client, method)(f"/api/images/{image_id}", headers={**JSON, "X-CSRFToken": csrf_token(client)})
    assert response.status_code == 404 and "error" in response.get_json()
