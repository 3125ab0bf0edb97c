"""Safety at the web edge: CSRF on every state-changing request, security headers everywhere, escaping, media types."""

from __future__ import annotations

import pytest

from annotation_core.settings import Settings
from tests import images
from tests.web_client import JSON, PageMarkup, csrf_token, seed, upload
from web_app.security import S3_IMAGE_SOURCE, content_security_policy

FORGED_REQUESTS = [
    ("POST", "/api/images/{id}/retry"),
    ("POST", "/api/images/retry"),
    ("POST", "/images/retry-failed"),
    ("DELETE", "/api/images/{id}"),
    ("POST", "/images/{id}/retry"),
    ("POST", "/images/{id}/delete"),
]


@pytest.fixture
def settings(gemini_settings) -> Settings:
    return gemini_settings


@pytest.fixture
def image_id(services, worker) -> int:
    return seed(worker, "kept.jpg", images.jpeg())


@pytest.mark.parametrize(("method", "path"), FORGED_REQUESTS)
@pytest.mark.parametrize("token", [None, "forged-token"], ids=["no-token", "wrong-token"])
def test_state_changing_requests_without_a_valid_token_are_refused(client, services, image_id, method, path, token):
    client.get("/")  # the victim has a session; the forged request rides on its cookie
    headers = {**JSON, **({"X-CSRFToken": token} if token else {})}

    response = client.open(path.format(id=image_id), method=method, headers=headers)

    assert response.status_code == 400
    expected = "The CSRF token is invalid." if token else "The CSRF token is missing."
    assert response.get_json() == {"error": f"{expected} Reload the page and try again."}
    assert services.repository.find(image_id) is not None


def test_upload_without_token_stores_nothing(client, services):
    response = upload(client, (images.jpeg(), "a.jpg"), token=False)
    assert response.status_code == 400
    assert response.get_json() == {"error": "The CSRF token is missing. Reload the page and try again."}

    form = upload(client, (images.jpeg(), "a.jpg"), headers={"Accept": "text/html"}, token=False)
    assert form.status_code == 302  # back to the upload page, which shows why
    assert "The CSRF token is missing." in client.get("/").get_data(as_text=True)
    assert services.repository.page() == []


def test_a_token_from_another_session_is_refused(app, client, services, image_id):
    stolen = csrf_token(app.test_client())
    victim = client  # signed in

    response = victim.delete(f"/api/images/{image_id}", headers={"X-CSRFToken": stolen})

    assert response.status_code == 400
    assert services.repository.find(image_id) is not None


def test_the_form_field_carries_the_token_for_html_forms(client, services, image_id):
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    field = PageMarkup.hidden_fields(page)["csrf_token"]

    response = client.post(f"/images/{image_id}/delete", data={"csrf_token": field})

    assert response.status_code == 302
    assert services.repository.find(image_id) is None


def pages_and_responses(client, worker):
    """Every kind of response the app gives: pages, errors, JSON, static files, stored objects."""
    image_id = seed(worker, "headers.jpg", images.jpeg())
    status = client.get(f"/api/images/{image_id}").get_json()
    return [
        "/",
        "/gallery",
        "/gallery?q=headers&status=completed",
        f"/images/{image_id}",
        "/images/999",
        "/gallery?status=nonsense",
        "/api/images",
        f"/api/images/{image_id}",
        "/api/images?limit=0",
        "/api/openapi.json",
        "/health",
        "/static/style.css",
        "/static/js/tray.js",
        status["original_url"],
        status["thumbnail_url"],
    ]


def test_security_headers_are_on_every_response(client, worker):
    for path in pages_and_responses(client, worker):
        with client.get(path) as response:
            headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert headers["X-Frame-Options"] == "DENY", path


def test_on_s3_the_policy_admits_presigned_image_links_only_as_images():
    policy = content_security_policy((S3_IMAGE_SOURCE,))
    assert "img-src 'self' data: blob: https://*.amazonaws.com" in policy
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy


def test_pages_need_no_inline_script_or_style(client, services, worker):
    image_id = seed(worker, "inline.jpg", images.jpeg())
    for path in ("/", "/gallery", f"/images/{image_id}", "/images/999"):
        parser = PageMarkup()
        parser.feed(client.get(path).get_data(as_text=True))
        assert all(script.get("src") and script.get("type") == "module" for script in parser.scripts), path
        assert parser.styled == [] and parser.handlers == [], path


def test_file_names_and_captions_are_escaped_everywhere(client, services, fake_gemini, worker):
    name = '<svg onload=alert("name")>.jpg'
    caption = "<img src=x onerror=alert('caption')>"
    image_id = seed(worker, name, images.jpeg(), fake_gemini, caption)

    for path in ("/", "/gallery", f"/images/{image_id}", "/gallery?q=svg"):
        html = client.get(path).get_data(as_text=True)
        assert "<svg" not in html and "<img src=x" not in html, path
        assert "&lt;svg onload=alert(&#34;name&#34;)&gt;.jpg" in html, path
    detail = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(&#39;caption&#39;)&gt;" in detail
    assert client.get(f"/api/images/{image_id}").get_json()["caption"] == caption  # JSON carries the data as is


def test_originals_are_served_with_their_sniffed_type_never_as_html(client, services, worker):
    image_id = seed(worker, "page.html", images.image_bytes("PNG"))
    status = client.get(f"/api/images/{image_id}").get_json()

    assert status["original_url"].endswith(".png")
    with client.get(status["original_url"]) as original:
        assert original.mimetype == "image/png"
        assert original.headers["X-Content-Type-Options"] == "nosniff"
    refused = upload(client, (images.HTML, "photo.jpg"))
    assert refused.status_code == 400
