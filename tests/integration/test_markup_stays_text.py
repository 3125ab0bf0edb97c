"""Captions, alt text, tags, text in the image, file names and token names holding markup, SQL and template
syntax are stored and answered exactly as sent, and every page shows them as text (escaped), never as markup."""

from __future__ import annotations

import markupsafe
import pytest
import sqlalchemy as sa

from annotation_core.accounts import check_username
from annotation_core.caption_fields import normalize_tags
from annotation_core.errors import AccountError
from annotation_core.schema import images as images_table
from annotation_core.settings import Settings
from annotation_core.uploads import clean_filename
from tests import images
from tests.hostile import MARKUP
from tests.web_client import JSON, csrf_token, seed

SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # pages and JSON: the same on MariaDB
RAW = ("<script>window.__pwned", 'onerror="window', "<svg onload", "<b>bold</b>")  # never in a page as markup


@pytest.fixture
def settings(gemini_settings) -> Settings:
    return gemini_settings


@pytest.fixture
def hostile_images(worker, fake_gemini) -> dict[int, str]:
    """One image per payload: the model answers it as caption, alt text, a tag and text in the image."""
    stored = {}
    for n, payload in enumerate(MARKUP):
        fake_gemini.alt_text, fake_gemini.tags, fake_gemini.text_in_image = payload, [payload], payload
        stored[seed(worker, f"{payload}.jpg", images.jpeg(color=(40 * n, 90, 160)), fake_gemini, payload)] = payload
    return stored


def test_model_answers_and_file_names_round_trip_exactly_through_the_json_api(client, hostile_images):
    for image_id, payload in hostile_images.items():
        document = client.get(f"/api/images/{image_id}", headers=JSON).get_json()
        assert document["caption"] == document["alt_text"] == document["text_in_image"] == payload
        assert document["tags"] == list(normalize_tags([payload]))
        assert document["filename"] == clean_filename(f"{payload}.jpg")


@SQLITE_ONLY
def test_every_page_shows_the_payloads_escaped_never_as_markup(client, hostile_images):
    first = next(iter(hostile_images))
    pages = ["/gallery", "/", *(f"/images/{image_id}" for image_id in hostile_images)]
    for path in pages:
        html = client.get(path, follow_redirects=True).get_data(as_text=True)
        for raw in RAW:
            assert raw not in html, f"{path} holds {raw!r} as markup"
    detail = client.get(f"/images/{first}").get_data(as_text=True)
    assert str(markupsafe.escape(hostile_images[first])) in detail
    templated = next(i for i, p in hostile_images.items() if p.startswith("{{"))
    assert "{{7*7}}" in client.get(f"/images/{templated}").get_data(as_text=True), "template syntax is not run"


@SQLITE_ONLY
def test_a_person_s_edits_holding_markup_round_trip_and_stay_text(client, hostile_images):
    image_id = next(iter(hostile_images))
    for payload in MARKUP:
        edit = {"caption": payload, "alt_text": payload[:125], "tags": [payload]}
        answer = client.patch(
            f"/api/images/{image_id}", json=edit, headers={**JSON, "X-CSRFToken": csrf_token(client)}
        ).get_json()
        assert (answer["caption"], answer["alt_text"], answer["tags"]) == (
            payload,
            payload[:125],
            list(normalize_tags([payload])),
        )
        html = client.get(f"/images/{image_id}").get_data(as_text=True)
        assert not any(raw in html for raw in RAW) and str(markupsafe.escape(payload)) in html


def test_sql_in_a_search_or_a_caption_stays_data(client, services, hostile_images):
    answer = client.get("/api/images", query_string={"q": "'; DROP TABLE images; --"}, headers=JSON)
    assert answer.status_code == 200
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(images_table)).scalar_one() == len(MARKUP)
    sql = next(i for i, p in hostile_images.items() if "DROP TABLE" in p)
    assert sql in [image["id"] for image in answer.get_json()["images"]], "the caption is found as words, not run"


@SQLITE_ONLY
def test_token_names_holding_markup_are_shown_as_text(client, services):
    admin = services.users.get_by_name("admin").id
    for payload in MARKUP:
        services.tokens.create(admin, payload)
    names = [token["name"] for token in client.get("/api/tokens", headers=JSON).get_json()["tokens"]]
    assert sorted(names) == sorted(MARKUP)
    html = client.get("/settings").get_data(as_text=True)
    assert not any(raw in html for raw in RAW)
    assert all(str(markupsafe.escape(payload)) in html for payload in MARKUP)


@SQLITE_ONLY
def test_user_names_cannot_hold_markup_at_all(client):
    for payload in MARKUP:
        with pytest.raises(AccountError):
            check_username(payload)
    users = client.get("/admin/users").get_data(as_text=True)
    assert not any(raw in users for raw in RAW)
