"""Renditions in Chromium: the grid paints each card's ThumbHash placeholder first, then the grid image, and the
card keeps its height when the image arrives; high-density screens get the preview; the detail page shows it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from conftest import ADMIN_PASSWORD
from tests.e2e.browser import card, expect, sign_in
from tests.e2e.photos import landscape

pytestmark = pytest.mark.browser

LOADED = "img => img.complete && img.naturalWidth > 0"


@pytest.fixture(scope="module")
def portrait(live_server) -> int:
    return live_server.add_image("tall-renditions.jpg", landscape(60, (1200, 1800)))


def card_image(page, name: str):
    return card(page, name).locator("img")


def test_the_grid_paints_placeholders_then_images_without_layout_shift(page, live_server, portrait, console):
    held = []

    def hold(route) -> None:  # every rendition waits until the test lets it through
        held.append(route)

    page.route("**/media/thumbnails/**", hold)
    page.goto("/gallery")
    img = card_image(page, "tall-renditions.jpg")

    painted = "img => img.style.backgroundImage.startsWith('url(\"data:image/png')"
    page.wait_for_function(painted, arg=img.element_handle())
    assert not img.evaluate(LOADED), "the image is held back: only the placeholder shows"
    colour = img.evaluate(
        """img => new Promise(resolve => {
             const probe = new Image();
             probe.onload = () => {
               const canvas = document.createElement("canvas");
               canvas.width = probe.width;
               canvas.height = probe.height;
               const context = canvas.getContext("2d");
               context.drawImage(probe, 0, 0);
               resolve(Array.from(context.getImageData(probe.width >> 1, probe.height >> 2, 1, 1).data));
             };
             probe.src = img.style.backgroundImage.slice(5, -2);
           })"""
    )
    assert colour[3] == 255 and max(colour[:3]) > 60, f"the placeholder is a picture, not blank: {colour}"
    before = card(page, "tall-renditions.jpg").bounding_box()["height"]

    for route in held:
        route.continue_()
    page.unroute("**/media/thumbnails/**", hold)
    page.wait_for_function(LOADED, arg=img.element_handle())

    after = card(page, "tall-renditions.jpg").bounding_box()["height"]
    assert after == before, "the card's height changed when its image arrived"
    assert "/grid-256x256.webp" in img.evaluate("img => img.currentSrc")
    assert console.errors == []


def test_a_high_density_screen_gets_the_preview(browser, live_server, portrait):
    context = browser.new_context(base_url=live_server.url, device_scale_factor=2)
    try:
        page = context.new_page()
        sign_in(page, "admin", ADMIN_PASSWORD)
        page.goto("/gallery")
        img = card_image(page, "tall-renditions.jpg")
        page.wait_for_function(LOADED, arg=img.element_handle())
        assert "/preview-" in img.evaluate("img => img.currentSrc")
    finally:
        context.close()


def test_the_detail_page_shows_the_preview_and_links_the_original(page, live_server, portrait, console):
    page.goto(f"/images/{portrait}")
    preview = page.locator(".original img")
    expect(preview).to_have_attribute("src", live_server.services.thumbnails.url(_preview_key(live_server, portrait)))
    page.wait_for_function(LOADED, arg=preview.element_handle())
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [960, 1440]
    original = page.get_by_role("link", name="Original (image/jpeg,", exact=False)
    expect(original).to_have_attribute("href", live_server.services.originals.url(_original_key(live_server, portrait)))
    assert console.errors == []


def _preview_key(live_server, image_id: int) -> str:
    return live_server.services.repository.get(image_id).preview_key


def _original_key(live_server, image_id: int) -> str:
    return live_server.services.repository.get(image_id).original_key


def test_a_transparent_photo_shows_a_neutral_checkerboard_through(page, live_server, console):
    logo = Image.new("RGBA", (400, 400), (20, 90, 200, 255))
    logo.paste((0, 0, 0, 0), (200, 0, 400, 400))  # the right half is transparent (black underneath)
    buffer = io.BytesIO()
    logo.save(buffer, "PNG")
    live_server.add_image("transparent-logo.png", buffer.getvalue())
    page.goto("/gallery")
    img = card_image(page, "transparent-logo.png")
    page.wait_for_function(LOADED, arg=img.element_handle())
    page.wait_for_function("img => !img.style.backgroundImage", arg=img.element_handle())  # placeholder gone

    shot = Image.open(io.BytesIO(img.screenshot())).convert("RGB")
    right = {
        shot.getpixel((x, y)) for x in range(shot.width * 5 // 8, shot.width - 2) for y in range(2, shot.height - 2)
    }
    left = shot.getpixel((shot.width // 4, shot.height // 2))
    assert {(255, 255, 255), (227, 227, 227)} <= right and (0, 0, 0) not in right, "light checkerboard squares"
    assert left[2] > 150 and left[0] < 60, f"the opaque half keeps its colour: {left}"
    assert console.errors == []
