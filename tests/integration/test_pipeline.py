"""The whole local pipeline through HTTP: upload → row + object → event bus → both handlers → status API."""

from __future__ import annotations

import dataclasses
import io
import time

import pytest
from PIL import Image

from annotation_core.settings import Settings
from conftest import ADMIN_PASSWORD, FAST_HASHING
from tests import images, web_client

JSON = {"Accept": "application/json"}


@pytest.fixture
def settings(gemini_settings) -> Settings:
    return dataclasses.replace(gemini_settings, max_upload_mb=1)


def upload(client, *files: tuple[bytes, str], headers=JSON):
    # As the upload page's script does: the session's CSRF token in X-CSRFToken (see tests/web_client.py).
    return web_client.upload(client, *files, headers=headers)


def processed(client, worker, image_id: int, timeout: float = 30) -> dict:
    """The image's status once both jobs have settled (retries included)."""
    deadline = time.monotonic() + timeout
    while True:
        assert worker.drain(timeout=timeout), "jobs did not finish"
        status = client.get(f"/api/image_status/{image_id}").get_json()
        if status["status"] != "processing" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def stored_objects(services) -> list[str]:
    root = services.originals.root
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_upload_makes_thumbnail_and_caption(client, services, fake_gemini, worker):
    response = upload(client, (images.jpeg((640, 480)), "holiday.jpg"))

    assert response.status_code == 202
    [created] = response.get_json()["images"]
    assert created["status_url"] == f"/api/image_status/{created['id']}"
    status = processed(client, worker, created["id"])
    assert status["status"] == "completed", status
    assert status["thumbnail_status"] == status["caption_status"] == "completed"
    assert status["caption"] == "A small red rectangle."
    assert status["filename"] == "holiday.jpg"
    assert status["uploaded_at"].endswith("Z")
    [request] = fake_gemini.requests
    assert request.headers["x-goog-api-key"] == "test-key"
    assert request.images[0][0] == "image/jpeg"

    with client.get(status["thumbnail_url"]) as thumbnail:  # closes the served file
        thumbnail.get_data()
    assert thumbnail.status_code == 200
    assert thumbnail.mimetype == "image/webp"
    assert thumbnail.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in thumbnail.headers["Cache-Control"]
    assert Image.open(io.BytesIO(thumbnail.data)).size == (128, 96)
    with client.get(status["original_url"]) as original:
        assert original.get_data() == images.jpeg((640, 480))
        assert original.mimetype == "image/jpeg"


def test_caption_retried_after_429_still_completes(client, services, fake_gemini, worker):
    fake_gemini.respond_with(429)
    image_id = upload(client, (images.jpeg(), "a.jpg")).get_json()["images"][0]["id"]

    status = processed(client, worker, image_id)

    assert status["caption_status"] == "completed", status
    assert len(fake_gemini.requests) == 2


def test_caption_refused_by_gemini_fails_with_reason_and_thumbnail_completes(client, services, fake_gemini, worker):
    fake_gemini.respond_with(403)
    image_id = upload(client, (images.jpeg(), "a.jpg")).get_json()["images"][0]["id"]

    status = processed(client, worker, image_id)

    assert status["status"] == "failed"
    assert status["thumbnail_status"] == "completed"
    assert status["caption_status"] == "failed"
    assert "GEMINI_API_KEY" in status["caption_error"]


def test_without_a_provider_captions_wait_and_follow_once_one_is_configured(tmp_path, engine, fake_gemini):
    from annotation_core.bootstrap import bootstrap
    from web_app.app import create_app

    def start(**settings):
        settings = Settings(data_dir=str(tmp_path / "d"), admin_password=ADMIN_PASSWORD, **FAST_HASHING, **settings)
        return create_app(services=bootstrap(settings, engine=engine))

    app = start()  # no GEMINI_API_KEY
    try:
        client = web_client.sign_in(app.test_client(), "admin", ADMIN_PASSWORD)
        image_id = upload(client, (images.jpeg(), "a.jpg")).get_json()["images"][0]["id"]
        assert app.extensions["local_worker"].drain()
        status = client.get(f"/api/image_status/{image_id}").get_json()
    finally:
        app.extensions["local_worker"].stop()
    assert status["thumbnail_status"] == "completed"
    assert (status["caption_status"], status["caption_state_text"]) == ("pending", "waiting for a caption provider")
    assert "set" not in status["caption_error"] or "GEMINI_API_KEY" in status["caption_error"]
    assert status["caption_attempts"] == 0, "waiting uses up no attempt"
    assert fake_gemini.requests == []

    app = start(gemini_api_key="key", gemini_base_url=fake_gemini.base_url)  # the key is added, the app restarted
    try:
        client = web_client.sign_in(app.test_client(), "admin", ADMIN_PASSWORD)
        status = processed(client, app.extensions["local_worker"], image_id)
    finally:
        app.extensions["local_worker"].stop()
    assert (status["caption_status"], status["caption"]) == ("completed", fake_gemini.caption)


def test_several_files_in_one_request(client, services, worker):
    response = upload(
        client,
        (images.jpeg(color="red"), "one.jpg"),
        (images.image_bytes("PNG", color="blue"), "two.png"),
        (images.image_bytes("GIF", mode="P", color=3), "three.gif"),
        (images.image_bytes("WEBP", color="green"), "four.webp"),
    )

    assert response.status_code == 202
    created = response.get_json()["images"]
    assert [image["filename"] for image in created] == ["one.jpg", "two.png", "three.gif", "four.webp"]
    for image in created:
        assert processed(client, worker, image["id"])["thumbnail_status"] == "completed"
    assert {key.rsplit(".", 1)[1] for key in stored_objects(services)} == {"jpg", "png", "gif", "webp"}


@pytest.mark.parametrize(
    ("content", "status", "phrase"),
    [
        (b"", 400, "empty"),
        (images.TEXT, 400, "not an image"),
        (images.HTML, 400, "not an image"),
        (images.PDF, 400, "not an image"),
        (images.truncated_jpeg(), 400, "damaged"),
        (images.SVG, 415, "not supported"),
        (images.image_bytes("BMP"), 415, "not supported"),
        (images.png_claiming_size(30000, 30000), 413, "pixels"),
        (images.noisy_jpeg((1600, 1600), quality=100) * 2, 413, "MiB"),
    ],
    ids=["empty", "text", "html", "pdf", "truncated", "svg", "bmp", "bomb", "over-size"],
)
def test_bad_upload_is_refused_and_nothing_is_stored(client, services, content, status, phrase):
    response = upload(client, (images.jpeg(), "good.jpg"), (content, "bad.file"))

    assert response.status_code == status
    assert phrase in response.get_json()["error"]
    assert services.repository.page() == []
    assert stored_objects(services) == []


def test_request_without_files_is_refused(client):
    response = upload(client)
    assert response.status_code == 400
    assert "file" in response.get_json()["error"]


def test_form_post_redirects_to_gallery_with_message(client, services):
    response = upload(client, (images.jpeg(), "a.jpg"), headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/gallery")
    assert "Uploaded 1 image" in client.get("/gallery").get_data(as_text=True)

    refused = upload(client, (images.TEXT, "notes.txt"), headers={"Accept": "text/html"})
    assert refused.status_code == 302
    assert "not an image" in client.get("/").get_data(as_text=True)


def test_same_bytes_twice_is_one_image(client, services):
    first = upload(client, (images.jpeg(), "a.jpg")).get_json()["images"][0]
    second = upload(client, (images.jpeg(), "copy of a.jpg")).get_json()["images"][0]

    assert second["id"] == first["id"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert len(services.repository.page()) == 1


def test_the_same_bytes_again_restore_an_original_a_crashed_upload_never_wrote(client, services, worker):
    data = images.jpeg((120, 80), color="purple")
    first = web_client.upload(client, (data, "a.jpg")).get_json()["images"][0]
    assert worker.drain()
    record = services.repository.get(first["id"])
    services.originals.delete(record.original_key)  # as if the process died between the row and the object

    again = web_client.upload(client, (data, "a.jpg")).get_json()["images"][0]

    assert (again["id"], again["duplicate"]) == (first["id"], True)
    assert services.originals.load(record.original_key) == data
    assert worker.drain()
    assert services.repository.get(record.id).status == "completed"


def test_failed_object_write_leaves_no_row(client, services):
    services.originals.root.parent.mkdir(parents=True, exist_ok=True)
    services.originals.root.write_text("a file where the bucket folder should be")

    response = upload(client, (images.jpeg(), "a.jpg"))

    assert response.status_code == 503
    assert "Could not write" in response.get_json()["error"]
    assert services.repository.page() == []


def test_status_of_unknown_image_is_404_json(client):
    response = client.get("/api/image_status/999")
    assert response.status_code == 404
    assert response.get_json() == {"error": "No image has id 999."}


def test_health_is_fast_and_touches_nothing(client, services):
    services.engine.dispose()
    started = time.perf_counter()
    response = client.get("/health")
    assert response.get_json() == {"status": "ok"}
    assert services.engine.pool.checkedout() == 0
    assert time.perf_counter() - started < 0.5


def test_gallery_is_newest_first_and_escapes_names(client, services, worker):
    for color, name in [("red", "first.jpg"), ("blue", "<img src=x onerror=alert(1)>.jpg")]:
        upload(client, (images.jpeg(color=color), name))
    worker.drain()

    page = client.get("/gallery").get_data(as_text=True)

    assert page.index("&lt;img src=x onerror=alert(1)&gt;.jpg") < page.index("first.jpg")
    assert "<img src=x" not in page


def test_media_refuses_paths_outside_the_bucket(client):
    assert client.get("/media/images/../annotations.db").status_code == 404
    assert client.get("/media/other/uploads/x.jpg").status_code == 404
