"""The gallery as people use it, in Chromium: how many photos a screen shows, the viewer (keys, swipe, back to
the same place), many photos at once (select, move to the trash, undo, retry), endless scrolling to the oldest
photo, dropping files anywhere, and a phone as narrow as 320 px."""

from __future__ import annotations

import base64
import re

import pytest

from conftest import ADMIN_PASSWORD
from tests.e2e.browser import CAPTION, card, expect, screenshot, sign_in
from tests.e2e.photos import landscape

pytestmark = pytest.mark.browser

COUNT = 40
SHAPES = [(640, 427), (427, 640), (600, 600), (900, 400)]
LOADED = """() => [...document.querySelectorAll('#gallery .thumb img')]
  .filter((img) => img.getBoundingClientRect().top < innerHeight).every((img) => img.complete && img.naturalWidth)"""
VISIBLE = """() => [...document.querySelectorAll('#gallery .card:not([hidden]) .thumb')].filter((tile) => {
  const box = tile.getBoundingClientRect();
  return box.width > 0 && box.top >= 0 && box.left >= 0 && box.bottom <= innerHeight && box.right <= innerWidth;
}).length"""


@pytest.fixture(scope="module")
def photos(live_server) -> list[int]:
    """Forty captioned photos of four shapes, oldest first (a module's tests share them)."""
    return [
        live_server.add_image(f"photo-{n:02}.jpg", landscape(200 + n, SHAPES[n % 4]), caption=f"Scene number {n}.")
        for n in range(COUNT)
    ]


def open_context(browser, live_server, **options):
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "admin", ADMIN_PASSWORD)
    return context, page, errors


def test_a_screen_shows_at_least_24_photos_on_a_desktop_and_12_on_a_phone(browser, live_server, photos):
    for viewport, least, name, scheme in (
        ({"width": 1280, "height": 800}, 24, "gallery.jpg", "light"),
        ({"width": 375, "height": 812}, 12, "mobile.jpg", "dark"),
    ):
        mobile = viewport["width"] < 600
        context, page, errors = open_context(
            browser, live_server, viewport=viewport, color_scheme=scheme, is_mobile=mobile, has_touch=mobile
        )
        try:
            page.goto("/gallery")
            page.wait_for_function(LOADED)
            shown = page.evaluate(VISIBLE)
            assert shown >= least, f"{shown} photos wholly on a {viewport} screen; wanted {least}"
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            screenshot(page, name)
            assert errors == []
        finally:
            context.close()


def test_the_viewer_moves_by_keys_and_swipes_and_returns_to_the_same_place(browser, live_server, photos):
    context, page, errors = open_context(browser, live_server, viewport={"width": 1280, "height": 800})
    try:
        page.goto("/gallery?q=scene")
        page.mouse.wheel(0, 160)
        page.wait_for_function("() => window.scrollY >= 100")
        scrolled = page.evaluate("window.scrollY")
        tiles = page.locator("#gallery .card")
        ids = tiles.evaluate_all("cards => cards.map((card) => Number(card.dataset.imageId))")
        start = next(index for index in range(len(ids)) if tiles.nth(index).bounding_box()["y"] > 100)
        tiles.nth(start).locator(".thumb").click()

        viewer = page.locator("#viewer")
        expect(viewer).to_be_visible()
        expect(page).to_have_url(re.compile(rf"/images/{ids[start]}$"))
        picture = page.locator("#viewer-image")
        expect(picture).to_have_attribute("src", re.compile(r"/preview-1440\.webp$"))  # never the original
        expect(page.locator("#viewer-title")).to_have_text(f"photo-{photos.index(ids[start]):02}.jpg")
        expect(viewer.locator('[data-field="caption"]')).to_have_text(f"Scene number {photos.index(ids[start])}.")
        expect(viewer.locator('[data-field="download"]')).to_have_attribute("href", re.compile(r"download=1$"))
        screenshot(page, "viewer.jpg")

        page.keyboard.press("ArrowRight")
        expect(page).to_have_url(re.compile(rf"/images/{ids[start + 1]}$"))
        page.get_by_role("button", name="Next photo").click()
        expect(page).to_have_url(re.compile(rf"/images/{ids[start + 2]}$"))
        page.keyboard.press("ArrowLeft")
        expect(page).to_have_url(re.compile(rf"/images/{ids[start + 1]}$"))
        page.keyboard.press("ArrowLeft")
        expect(page).to_have_url(re.compile(rf"/images/{ids[start]}$"))

        page.keyboard.press("Escape")
        expect(viewer).to_be_hidden()
        expect(page).to_have_url(re.compile(r"/gallery\?q=scene$"))
        assert page.evaluate("window.scrollY") == scrolled, "back where the reader was"
        expect(page.get_by_label("Search captions, tags and file names")).to_have_value("scene")

        tiles.nth(start).locator(".thumb").click()
        expect(viewer).to_be_visible()
        page.go_back()  # the browser's Back closes it too
        expect(viewer).to_be_hidden()
        expect(page).to_have_url(re.compile(r"/gallery\?q=scene$"))
        assert page.evaluate("window.scrollY") == scrolled
        assert errors == []
    finally:
        context.close()

    phone, page, errors = open_context(
        browser, live_server, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    try:
        page.goto("/gallery")
        first, second = page.locator("#gallery .card").evaluate_all(
            "cards => cards.slice(0, 2).map((card) => card.dataset.imageId)"
        )
        page.locator("#gallery .card .thumb").first.tap()
        expect(page).to_have_url(re.compile(rf"/images/{first}$"))
        swipe(page, "#viewer-stage", -160)  # right to left: the next photo
        expect(page).to_have_url(re.compile(rf"/images/{second}$"))
        swipe(page, "#viewer-stage", 160)
        expect(page).to_have_url(re.compile(rf"/images/{first}$"))
        assert errors == []
    finally:
        phone.close()


def swipe(page, selector: str, dx: int) -> None:
    """A one-finger horizontal swipe through the DevTools protocol, as a touch screen sends it."""
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2 - dx / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 6):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + dx * step / 5, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_shared_photo_link_is_a_page_of_its_own_without_script(browser, live_server, photos):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "admin", ADMIN_PASSWORD)
        page.goto(f"/images/{photos[5]}")
        expect(page.locator("h1")).to_have_text("photo-05.jpg")
        expect(page.locator(".original img")).to_have_attribute("src", re.compile(r"/preview-1440\.webp$"))
        download = page.get_by_role("link", name="Download original")
        answer = page.request.get(download.get_attribute("href"))
        assert answer.headers["content-disposition"] == 'attachment; filename="photo-05.jpg"'

        page.goto("/gallery?limit=6")
        page.get_by_role("link", name="Older photos").click()
        first = page.request.get("/api/images?limit=6").json()
        second = page.request.get(f"/api/images?limit=6&cursor={first['next_cursor']}").json()
        shown = page.locator("#gallery .card").evaluate_all(
            "cards => cards.map((card) => Number(card.dataset.imageId))"
        )
        assert shown == [image["id"] for image in second["images"]] and len(shown) == 6
    finally:
        context.close()


def test_endless_scrolling_reaches_the_oldest_photo(browser, live_server, photos):
    context, page, errors = open_context(browser, live_server, viewport={"width": 1280, "height": 800})
    try:
        pages = []
        page.on("request", lambda request: pages.append(request.url) if "/api/images?" in request.url else None)
        page.goto("/gallery?limit=12")
        end = page.locator("#pager-end")
        for _ in range(20):
            if end.is_visible():
                break
            page.keyboard.press("End")
            page.wait_for_timeout(150)
        expect(end).to_be_visible()
        expect(end).to_have_text("That is all: you have reached the oldest photo.")
        shown = page.locator("#gallery .card").evaluate_all(
            "cards => cards.map((card) => Number(card.dataset.imageId))"
        )
        listed = [image["id"] for image in _all_images(page)]
        assert shown == listed and shown[-1] == photos[0], "every photo once, newest first, down to the oldest"
        expect(page.locator("#older")).to_have_count(0)
        assert len(pages) == 3 and all("limit=12" in url and "cursor=" in url for url in pages), pages
        assert errors == []
    finally:
        context.close()


def _all_images(page) -> list[dict]:
    images, cursor = [], ""
    while True:
        answer = page.request.get(f"/api/images?limit=100{cursor}").json()
        images += answer["images"]
        if not answer["next_cursor"]:
            return images
        cursor = f"&cursor={answer['next_cursor']}"


def test_many_at_once_select_a_range_move_to_the_trash_undo_and_retry(browser, live_server, photos):
    context, page, errors = open_context(browser, live_server, viewport={"width": 1280, "height": 800})
    try:
        page.goto("/gallery")
        tiles = page.locator("#gallery .card")
        ids = tiles.evaluate_all("cards => cards.slice(0, 8).map((card) => Number(card.dataset.imageId))")
        tiles.nth(1).locator(".select").click()
        tiles.nth(4).locator(".select").click(modifiers=["Shift"])  # the range from the second to the fifth
        tiles.nth(6).locator(".select").focus()
        page.keyboard.press("Space")  # and the seventh, by keyboard
        expect(page.locator("#bulk-count")).to_have_text("5 selected")
        chosen = [ids[1], ids[2], ids[3], ids[4], ids[6]]

        page.locator("#bulk-bar").get_by_role("button", name="Move to trash").click()
        expect(page.locator(".toast").first).to_contain_text("Moved 5 photos to the trash.")
        for image_id in chosen:
            expect(page.locator(f'.card[data-image-id="{image_id}"]')).to_be_hidden()
            assert page.request.get(f"/api/images/{image_id}").status == 404
        expect(page.locator("#bulk-bar")).to_be_hidden()

        page.locator(".toast").get_by_role("button", name="Undo").click()
        for image_id in chosen:
            expect(page.locator(f'.card[data-image-id="{image_id}"]')).to_be_visible()
            assert page.request.get(f"/api/images/{image_id}").status == 200
        assert tiles.evaluate_all("cards => cards.slice(0, 8).map((card) => Number(card.dataset.imageId))") == ids

        live_server.gemini.respond_with(403)
        stormy = live_server.add_image("stormy.jpg", landscape(300))
        live_server.gemini.respond_with(403)
        foggy = live_server.add_image("foggy-again.jpg", landscape(301))
        page.goto("/gallery?status=failed")
        for name in ("stormy.jpg", "foggy-again.jpg"):
            expect(card(page, name).locator(".state-failed")).to_have_count(1)
            card(page, name).locator(".select").click()
        page.locator("#bulk-bar").get_by_role("button", name="Retry").click()
        expect(page.locator(".toast").last).to_have_text(re.compile("Retrying 2 failed jobs of 2 photos."))
        for name in ("stormy.jpg", "foggy-again.jpg"):
            expect(card(page, name).locator(".state")).to_have_count(0, timeout=8_000)
            expect(card(page, name).locator(".caption")).to_have_text(CAPTION)
        assert {live_server.services.repository.get(i).caption_status for i in (stormy, foggy)} == {"completed"}
        assert errors == []
    finally:
        context.close()


def test_photos_dropped_on_the_gallery_go_up_through_the_tray(browser, live_server, photos):
    context, page, errors = open_context(browser, live_server, viewport={"width": 1280, "height": 800})
    try:
        page.goto("/gallery")
        long_name = "IMG_20240517_183512_from_the_harbour_walk_0042.png"
        files = [(long_name, "image/png", landscape(400, fmt="PNG")), ("notes.txt", "text/plain", b"not a photo\n")]
        transfer = page.evaluate_handle(
            """(files) => {
                const transfer = new DataTransfer();
                for (const [name, type, b64] of files) {
                  const bytes = Uint8Array.from(atob(b64), (char) => char.charCodeAt(0));
                  transfer.items.add(new File([bytes], name, { type }));
                }
                return transfer;
            }""",
            [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files],
        )
        page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
        expect(page.locator("#drop-overlay")).to_be_visible()
        page.dispatch_event("#gallery", "drop", {"dataTransfer": transfer})
        expect(page.locator("#drop-overlay")).to_be_hidden()

        rows = page.locator("#upload-list .upload")
        expect(rows.first).to_have_attribute("data-state", "refused")  # refused files are listed first
        expect(rows.first).to_contain_text("Not sent: only")
        dropped = rows.nth(1)
        expect(dropped.locator(".name-end")).to_have_text("_0042.png")  # a long name keeps its end
        expect(dropped).to_contain_text("Done: thumbnail and caption are ready.", timeout=10_000)
        expect(card(page, long_name)).to_have_count(1)
        assert page.locator("#gallery .card").first.get_attribute("data-filename") == long_name
        expect(page.locator("#upload-summary")).to_have_text("1 of 2 stored · 1 refused")

        page.get_by_role("button", name="Hide").click()  # the tray folds down to its summary line
        expect(page.locator("#tray-body")).to_be_hidden()
        expect(page.locator("#upload-summary")).to_be_visible()
        assert errors == []
    finally:
        context.close()


def test_a_320_px_phone_never_scrolls_sideways_and_every_tap_target_is_24_px(browser, live_server, photos):
    context, page, errors = open_context(
        browser, live_server, viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True
    )
    # Links inside a sentence are exempt (WCAG 2.5.8); a hidden file input is reached through its label.
    small = """() => [...document.querySelectorAll('a, button, input:not(.file-input), select, textarea, label.button')]
      .filter((element) => element.checkVisibility() && !element.closest('.skip-link, p'))
      .map((element) => [element, element.getBoundingClientRect()])
      .filter(([element, box]) => box.width < 24 || box.height < 24)
      .map(([element, box]) => `${element.outerHTML.slice(0, 80)} ${box.width}x${box.height}`)"""
    try:
        for path in ("/", "/gallery", f"/images/{photos[0]}", "/settings", "/admin/users"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 320, f"{path} scrolls sideways ({width} px wide)"
            assert page.evaluate(small) == [], f"{path} has tap targets under 24 px"
        page.goto("/gallery")
        page.locator("#gallery .card .thumb").first.tap()
        expect(page.locator("#viewer")).to_be_visible()
        assert page.evaluate("document.getElementById('viewer').scrollWidth") <= 320
        assert page.evaluate(small) == [], "the viewer has tap targets under 24 px"
        assert errors == []
    finally:
        context.close()
