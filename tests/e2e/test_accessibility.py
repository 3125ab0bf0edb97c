"""axe-core (from the npm registry, used by the tests only) finds no violation on any page, in light and dark
mode: sign-in, upload, gallery, the viewer open over it, a photo's page, settings, users, an error page."""

from __future__ import annotations

import pytest

from conftest import ADMIN_PASSWORD
from tests.e2e.accessibility import violations
from tests.e2e.browser import card, expect, sign_in
from tests.e2e.photos import landscape

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def photos(live_server) -> dict[str, int]:
    ids = {"meadow.jpg": live_server.add_image("meadow.jpg", landscape(80))}
    live_server.gemini.respond_with(403)
    ids["refused.jpg"] = live_server.add_image("refused.jpg", landscape(81))
    return ids


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_has_an_accessibility_violation(browser, live_server, photos, scheme):
    context = browser.new_context(
        base_url=live_server.url, color_scheme=scheme, viewport={"width": 1000, "height": 800}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    found = {}
    try:
        page.goto("/login")
        found["/login"] = violations(page)
        sign_in(page, "admin", ADMIN_PASSWORD)
        pages = ["/", "/gallery", "/gallery?status=failed", f"/images/{photos['refused.jpg']}", "/settings"]
        for path in [*pages, "/admin/users", "/images/999999"]:
            page.goto(path)
            found[path] = violations(page)
        page.goto("/gallery")
        card(page, "meadow.jpg").locator(".thumb").click()
        expect(page.locator("#viewer")).to_be_visible()
        expect(page.locator("#viewer-image")).to_have_attribute(
            "src", "/media/thumbnails/" + _preview(live_server, photos)
        )
        found["the viewer"] = violations(page)
        page.keyboard.press("Escape")
        card(page, "meadow.jpg").locator(".select").check()
        expect(page.locator("#bulk-bar")).to_be_visible()
        found["the selection bar"] = violations(page)
        page.evaluate("document.querySelector('main').append(document.createElement('button'))")
        assert any(line.startswith("button-name") for line in violations(page)), "axe runs and would report"
    finally:
        context.close()
    assert {where: problems for where, problems in found.items() if problems} == {}


def _preview(live_server, photos) -> str:
    return live_server.services.repository.get(photos["meadow.jpg"]).preview_key
