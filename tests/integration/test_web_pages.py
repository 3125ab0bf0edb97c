"""HTML pages through Flask's test client: upload page, gallery search and paging, detail, retry and delete forms."""

from __future__ import annotations

import dataclasses
import re

import pytest

from annotation_core.settings import Settings
from tests import images
from tests.web_client import PageMarkup, seed


@pytest.fixture
def settings(gemini_settings) -> Settings:
    return dataclasses.replace(gemini_settings, max_upload_mb=3)


def card_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<li class="card" data-image-id="(\d+)"', html)]


def test_upload_page_offers_picker_drop_zone_and_the_latest_photos(client, services, worker):
    ids = [seed(worker, f"{n}.jpg", images.jpeg(color=(n * 60, 0, 0))) for n in range(3)]

    html = client.get("/").get_data(as_text=True)

    assert re.search(r'<label for="file"[^>]*>Choose photos', html)
    assert re.search(r'<input id="file"[^>]*type="file" multiple', html)
    assert 'id="drop-zone"' in html and 'data-max-bytes="3145728"' in html
    assert "up to 3 MiB each" in html
    assert card_ids(html) == ids[::-1]
    assert '<template id="card-template">' in html
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)


def test_gallery_searches_filters_and_shows_the_alt_text_and_tags(client, services, fake_gemini, worker):
    fake_gemini.alt_text, fake_gemini.tags = "Sailing boat moored in a harbour", ["boat", "harbour"]
    boat = seed(worker, "boat.jpg", images.jpeg(color="blue"), fake_gemini, "A sailing boat in a harbour.")
    fake_gemini.alt_text, fake_gemini.tags = "Oak tree in a field", ["tree"]
    seed(worker, "tree.jpg", images.jpeg(color="green"), fake_gemini, "An oak tree.")
    fake_gemini.respond_with(403)
    failed = seed(worker, "cloud.jpg", images.jpeg(color="gray"))

    searched = client.get("/gallery?q=harbour").get_data(as_text=True)
    assert card_ids(searched) == [boat]
    assert 'alt="Sailing boat moored in a harbour"' in searched
    assert '<p class="caption">Sailing boat moored in a harbour</p>' in searched  # one line under the photo
    assert 'value="harbour"' in searched  # the search box keeps the words
    filtered = client.get("/gallery?status=failed").get_data(as_text=True)
    assert card_ids(filtered) == [failed]
    assert '<option value="failed" selected>' in filtered
    assert "No photos match." in client.get("/gallery?q=bicycle").get_data(as_text=True)


def test_gallery_pages_older_photos_by_cursor_keeping_the_filters(client, services, worker):
    ids = [seed(worker, f"p{n}.jpg", images.jpeg(color=(0, n * 50, 0))) for n in range(3)]

    first = client.get("/gallery?limit=2&status=completed").get_data(as_text=True)
    older = re.search(r'<a rel="next" id="older" href="([^"]+)">Older photos</a>', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)

    assert card_ids(first) == [ids[2], ids[1]]
    assert "status=completed" in older and "limit=2" in older
    assert card_ids(second) == [ids[0]]
    assert "Older photos" not in second and "Newest photos" in second


def test_gallery_with_a_bad_state_is_a_400_page(client):
    response = client.get("/gallery?status=nonsense")
    assert response.status_code == 400
    assert "The status must be one of" in response.get_data(as_text=True)


def test_detail_page_shows_the_original_facts_and_both_jobs(client, services, fake_gemini, worker):
    fake_gemini.respond_with(403)
    image_id = seed(worker, "harbour.png", images.image_bytes("PNG", (300, 200), color="navy"))

    html = client.get(f"/images/{image_id}").get_data(as_text=True)

    status = client.get(f"/api/images/{image_id}").get_json()
    assert f'<img src="{status["preview_url"]}"' in html and f'<a href="{status["original_url"]}">' in html
    for fact in ("harbour.png", "image/png", "300 × 200 px", "UTC", "No caption yet."):
        assert fact in html
    assert re.search(r'data-job="thumbnail">.*?badge-completed', html, re.S)
    assert re.search(r'data-job="caption">.*?badge-failed.*?GEMINI_API_KEY', html, re.S)
    assert re.search(r'<form method="post" action="/images/\d+/retry" id="retry-form">', html)  # not hidden
    assert set(PageMarkup.hidden_fields(html)) == {"csrf_token"}


def test_detail_forms_retry_then_delete(client, services, fake_gemini, worker):
    fake_gemini.respond_with(403)
    image_id = seed(worker, "retry-me.jpg", images.jpeg())
    token = PageMarkup.hidden_fields(client.get(f"/images/{image_id}").get_data(as_text=True))["csrf_token"]

    retried = client.post(f"/images/{image_id}/retry", data={"csrf_token": token})
    assert retried.status_code == 302 and retried.headers["Location"].endswith(f"/images/{image_id}")
    assert worker.drain(timeout=30)
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "Retrying the caption." in page
    assert fake_gemini.caption in page
    assert re.search(r'id="retry-form" hidden>', page)  # nothing failed any more

    deleted = client.post(f"/images/{image_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302 and deleted.headers["Location"].endswith("/gallery")
    assert "Moved retry-me.jpg to the trash." in client.get("/gallery").get_data(as_text=True)
    gone = client.get(f"/images/{image_id}")
    assert gone.status_code == 404
    assert f"No image has id {image_id}." in gone.get_data(as_text=True)
