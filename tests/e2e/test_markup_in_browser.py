"""In Chromium: captions, alt text, tags, text in the photo, file names and token names holding markup are shown
as text everywhere the browser renders them (server pages, and the viewer, tiles and upload tray that the
scripts fill in). Each payload sets a window flag if it ever runs; none may be set."""

from __future__ import annotations

import pytest

from annotation_core.caption_fields import normalize_tags
from conftest import ADMIN_PASSWORD
from tests.e2e.browser import CAPTION, expect, sign_in
from tests.e2e.conftest import live_settings, serving
from tests.e2e.photos import landscape
from tests.fake_gemini import FakeGemini
from tests.hostile import MARKUP

pytestmark = pytest.mark.browser

NAMED = MARKUP[1]  # '"><img src=x onerror=...>': a file name can hold it (no slash)
FLAGS = "() => Object.keys(window).filter((name) => name.startsWith('__pwned'))"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    """A live server whose model answers every field with a payload, and photos named with one."""
    with FakeGemini(caption=CAPTION) as gemini:
        data = tmp_path_factory.mktemp("markup") / "data"
        settings = live_settings(data, gemini_api_key="test-key", gemini_base_url=gemini.base_url)
        with serving(settings, gemini) as server:
            ids = {}
            for n, payload in enumerate(MARKUP):
                gemini.tags, gemini.text_in_image = [payload, "harbour"], payload
                ids[server.add_image(f"{NAMED} {n}.jpg", landscape(n, (320, 240)), caption=payload)] = payload
            admin = server.services.users.get_by_name("admin").id
            for payload in MARKUP:
                server.services.tokens.create(admin, payload)
            yield server, ids


@pytest.fixture
def hostile_page(browser, hostile_server):
    server, _ids = hostile_server
    context = browser.new_context(base_url=server.url, viewport={"width": 1200, "height": 820})
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, "admin", ADMIN_PASSWORD)
    yield page
    assert page.evaluate(FLAGS) == [], "a payload ran"
    context.close()


def test_gallery_tiles_and_viewer_show_payloads_as_text(hostile_page, hostile_server):
    page, (_server, ids) = hostile_page, hostile_server
    page.goto("/gallery")
    for image_id, payload in ids.items():  # the module's upload-tray test may have added a photo of its own
        tile = page.locator(f'#gallery .card[data-image-id="{image_id}"]')
        expect(tile).to_have_count(1)
        expect(tile).to_have_attribute("data-filename", f"{NAMED} {list(ids).index(image_id)}.jpg")
        tile.locator(".thumb").click()
        viewer = page.locator("#viewer")
        expect(viewer).to_be_visible()
        expect(viewer.locator('[data-field="caption"]')).to_have_text(payload)
        expect(viewer.locator('[data-field="alt_text"]')).to_have_text(payload)
        expect(viewer.locator('[data-field="text_in_image"]')).to_have_text(payload)
        expect(viewer.locator('[data-field="tags"] li')).to_have_text(list(normalize_tags([payload, "harbour"])))
        expect(page.locator("#viewer-title")).to_have_text(f"{NAMED} {list(ids).index(image_id)}.jpg")
        assert viewer.locator("script, img[src='x'], svg[onload], b").count() == 0, "markup became elements"
        page.keyboard.press("Escape")
        expect(viewer).to_be_hidden()
    assert page.evaluate(FLAGS) == []


def test_the_detail_page_and_the_account_pages_show_payloads_as_text(hostile_page, hostile_server):
    page, (_server, ids) = hostile_page, hostile_server
    for image_id, payload in ids.items():
        page.goto(f"/images/{image_id}")
        expect(page.locator('#detail [data-field="caption"]')).to_have_text(payload)
        assert page.locator("#detail script, #detail img[src='x'], #detail svg[onload]").count() == 0
    page.goto("/settings")
    for payload in MARKUP:
        expect(page.get_by_text(payload, exact=True)).to_have_count(1)
    page.goto("/admin/users")
    expect(page.locator("h1")).to_be_visible()
    assert page.evaluate(FLAGS) == []


def test_the_upload_tray_shows_a_hostile_file_name_as_text(hostile_page, tmp_path):
    page = hostile_page
    page.goto("/")
    name = '<img src=x onerror="window.__pwned_tray=1">.jpg'
    page.set_input_files("#file", files=[{"name": name, "mimeType": "image/jpeg", "buffer": landscape(9)}])
    upload = page.locator(".upload-name", has_text=name)
    expect(upload).to_have_count(1)
    expect(page.locator(".upload").first).to_have_attribute("data-state", "accepted")
    assert page.evaluate(FLAGS) == []
