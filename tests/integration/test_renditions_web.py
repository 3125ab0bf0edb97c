"""HEIC and AVIF through the whole local pipeline, and what pages and the API make of renditions: the grid card
(srcset, size, placeholder), the detail page (preview, photo facts, the original a link away), deletion."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from PIL import Image

from annotation_core import media_types
from annotation_core.errors import JobError
from annotation_core.lifecycle import JobInput
from annotation_core.media_types import IMAGE_TYPES, SUPPORTED_NAMES
from annotation_core.records import Job
from annotation_core.settings import Settings
from lambda_functions.thumbnail_lambda.lambda_function import create_renditions, thumbnail_work
from tests import images
from tests.web_client import csrf_token, seed, upload


@pytest.fixture
def settings(settings) -> Settings:
    return dataclasses.replace(settings, preview_size=400)


@pytest.mark.parametrize(
    ("make", "mime_type"), [(images.heic, "image/heic"), (images.avif, "image/avif")], ids=["heic", "avif"]
)
def test_heic_and_avif_uploads_get_webp_renditions(client, services, worker, make, mime_type):
    response = upload(client, (make((800, 600), color="navy"), "phone-photo"))
    assert response.status_code == 202, response.get_json()
    assert worker.drain(timeout=30)
    image = client.get(response.get_json()["images"][0]["status_url"]).get_json()

    assert (image["mime_type"], image["thumbnail_status"]) == (mime_type, "completed")
    assert (image["thumbnail_width"], image["thumbnail_height"]) == (128, 96)
    assert (image["preview_width"], image["preview_height"]) == (400, 300)
    assert image["placeholder"] and image["has_location"] is False
    for url in (image["thumbnail_url"], image["preview_url"]):
        with client.get(url) as served:
            assert served.status_code == 200 and served.mimetype == "image/webp"
            assert "immutable" in served.headers["Cache-Control"]
    with client.get(image["original_url"]) as original:
        assert original.mimetype == mime_type


def test_a_truncated_heic_is_refused_with_400_and_nothing_is_stored(client, services, tmp_path):
    response = upload(client, (images.truncated_heic(), "cut-off.heic"))
    assert response.status_code == 400
    assert "damaged or incomplete" in response.get_json()["error"]
    assert services.repository.page() == []
    originals = tmp_path / "data" / "images"
    assert not originals.exists() or not any(path.is_file() for path in originals.rglob("*"))


def test_grid_cards_carry_size_srcset_and_placeholder(client, services, worker):
    image_id = seed(worker, "wide.jpg", images.jpeg((1000, 500), color="teal"))
    image = client.get(f"/api/images/{image_id}").get_json()
    html = client.get("/gallery").get_data(as_text=True)
    tag = re.search(rf'<li class="card" data-image-id="{image_id}".*?(<img [^>]+>)', html, re.S).group(1)
    assert f'src="{image["thumbnail_url"]}"' in tag
    assert f'srcset="{image["thumbnail_url"]} 128w, {image["preview_url"]} 400w"' in tag
    # The square tile shows this 2:1 photo at the tile's height: it asks for twice the tile's width.
    assert 'sizes="(min-width: 40rem) 288px, 68vw"' in tag
    assert 'width="128" height="64"' in tag
    assert f'data-placeholder="{image["placeholder"]}"' in tag


def test_detail_shows_the_preview_the_photo_facts_and_links_the_original(client, services, worker):
    data = images.jpeg((1200, 900), exif=images.photo_exif(gps=True))
    image_id = seed(worker, "canal.jpg", data)
    image = client.get(f"/api/images/{image_id}").get_json()
    html = client.get(f"/images/{image_id}").get_data(as_text=True)

    assert re.search(rf'<img src="{re.escape(image["preview_url"])}"[^>]*width="400" height="300"', html)
    assert f'<a href="{image["original_url"]}">Original (image/jpeg,' in html
    for fact in ("2024-05-06 07:08:09", "Apple iPhone 15 Pro", "1/250 s · f/1.8 · ISO 64 · 6.9 mm"):
        assert fact in html
    assert "not kept (KEEP_LOCATION)" in html and "52.3" not in html
    assert image["latitude"] is None and image["has_location"] is True


def test_coordinates_are_kept_only_with_keep_location(client, services, worker):
    kept = dataclasses.replace(services.settings, keep_location=True)
    worker.works[Job.THUMBNAIL] = thumbnail_work(dataclasses.replace(services, settings=kept))
    image_id = seed(worker, "located.jpg", images.jpeg((640, 480), exif=images.photo_exif(gps=True)))
    image = client.get(f"/api/images/{image_id}").get_json()
    assert image["latitude"] == pytest.approx(52.3697, abs=1e-4)
    assert "52.36967, 4.89167" in client.get(f"/images/{image_id}").get_data(as_text=True)


def test_a_viewer_sees_that_there_is_a_location_but_not_where(client_as, services, worker):
    kept = dataclasses.replace(services.settings, keep_location=True)
    worker.works[Job.THUMBNAIL] = thumbnail_work(dataclasses.replace(services, settings=kept))
    image_id = seed(worker, "home.jpg", images.jpeg((640, 480), exif=images.photo_exif(gps=True)))
    viewer = client_as("viewer")
    image = viewer.get(f"/api/images/{image_id}").get_json()
    assert image["has_location"] is True and (image["latitude"], image["longitude"]) == (None, None)
    html = viewer.get(f"/images/{image_id}").get_data(as_text=True)
    assert "52.36" not in html and "shown to those who may see originals" in html
    assert client_as("member").get(f"/api/images/{image_id}").get_json()["latitude"] == pytest.approx(52.3697, abs=1e-4)


def test_deleting_an_image_removes_both_renditions(client, services, worker):
    image_id = seed(worker, "gone.jpg", images.jpeg((800, 600)))
    record = services.repository.get(image_id)
    assert services.thumbnails.exists(record.thumbnail_key) and services.thumbnails.exists(record.preview_key)
    assert client.delete(f"/api/images/{image_id}", headers={"X-CSRFToken": csrf_token(client)}).status_code == 204
    assert not services.thumbnails.exists(record.thumbnail_key)
    assert not services.thumbnails.exists(record.preview_key)


def test_re_rendering_with_other_settings_replaces_the_old_objects(services, worker):
    image_id = seed(worker, "again.jpg", images.jpeg((800, 600)))
    before = services.repository.get(image_id)
    jpeg_settings = dataclasses.replace(services.settings, thumbnail_format="jpeg", preview_size=300)
    job = JobInput(before, services.originals.load(before.original_key), deadline=float("inf"))
    output = create_renditions(job, settings=jpeg_settings, store=services.thumbnails)
    assert output.columns["thumbnail_key"].endswith(".jpg") and output.columns["preview_width"] == 300
    assert not services.thumbnails.exists(before.thumbnail_key) and not services.thumbnails.exists(before.preview_key)
    assert services.thumbnails.exists(output.columns["preview_key"])
    for key in (output.columns["thumbnail_key"], output.columns["preview_key"]):  # served as the key names them
        assert Image.open(io.BytesIO(services.thumbnails.load(key))).format == "JPEG"


def test_a_job_holds_the_original_to_the_pixel_limit_in_force_when_it_runs(services, worker):
    image_id = seed(worker, "large.jpg", images.jpeg((800, 600)))
    record = services.repository.get(image_id)
    lowered = dataclasses.replace(services.settings, max_image_pixels=479_999)
    job = JobInput(record, services.originals.load(record.original_key), deadline=float("inf"))
    with pytest.raises(JobError) as caught:
        create_renditions(job, settings=lowered, store=services.thumbnails)
    assert caught.value.message == (
        "The original is 800x600 pixels, more than the limit of 479,999; upload a smaller image."
    )


def test_a_job_whose_image_was_deleted_meanwhile_can_remove_the_renditions_it_stored(services, worker):
    image_id = seed(worker, "undone.jpg", images.jpeg((800, 600)))
    record = services.repository.get(image_id)
    other = dataclasses.replace(services.settings, preview_size=300)  # new keys, beside the image's own
    job = JobInput(record, services.originals.load(record.original_key), deadline=float("inf"))
    output = create_renditions(job, settings=other, store=services.thumbnails)
    made = [output.columns["thumbnail_key"], output.columns["preview_key"]]
    assert all(services.thumbnails.exists(key) for key in made)

    output.undo()

    assert not any(services.thumbnails.exists(key) for key in made)


def test_the_accepted_types_come_from_the_one_list_in_the_core(client):
    page = client.get("/").get_data(as_text=True)
    mime_types = [image_type.mime_type for image_type in IMAGE_TYPES]
    assert f'data-types="{",".join(mime_types)}"' in page
    assert f'data-type-names="{SUPPORTED_NAMES}"' in page and f"{SUPPORTED_NAMES}, up to" in page
    accept = re.search(r'accept="([^"]+)"', page).group(1).split(",")
    assert set(mime_types) <= set(accept) and ".heic" in accept and ".avif" in accept
    spec = client.get("/api/openapi.json").get_json()
    encoding = spec["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["encoding"]
    assert encoding["file"]["contentType"].split(", ") == mime_types
    assert "HEIC" in SUPPORTED_NAMES and "AVIF" in SUPPORTED_NAMES


def test_the_accepted_types_read_as_one_sentence_naming_heic_once():
    # The sentence every refusal, the upload page and its script show; HEIF is HEIC's generic brand, not a
    # type of its own to people. (Built at import; _names() is called here so that its making is tested.)
    assert media_types._names() == SUPPORTED_NAMES == "JPEG, PNG, GIF, WebP, HEIC or AVIF"


def test_local_objects_are_served_as_the_type_their_key_names_and_anything_else_as_bytes(client, services):
    # The media route's content type comes from the key alone (nosniff: browsers will not guess another).
    stored = {f"thumbnails/served/photo.{t.extension.upper()}": t.mime_type for t in IMAGE_TYPES}
    stored |= dict.fromkeys(["thumbnails/served/notes.txt", "thumbnails/served/README"], "application/octet-stream")
    for key in stored:
        services.thumbnails.save(key, b"bytes", "ignored by the local store")
    for key, mime_type in stored.items():
        with client.get(f"/media/{services.thumbnails.bucket}/{key}") as served:
            assert served.status_code == 200, key
            assert served.mimetype == mime_type, key
            assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_renditions_have_no_exif_even_when_the_original_has_gps(client, services, worker):
    image_id = seed(worker, "gps.jpg", images.jpeg((800, 600), exif=images.photo_exif(gps=True)))
    record = services.repository.get(image_id)
    for key in (record.thumbnail_key, record.preview_key):
        data = services.thumbnails.load(key)
        assert b"Exif" not in data
        assert not Image.open(io.BytesIO(data)).getexif()
