"""The upload page in Chromium: picker and drop zone, progress, outcomes, retries, and the live gallery below."""

from __future__ import annotations

import base64
import os
import re

import pytest

from annotation_core.media_types import SUPPORTED_NAMES
from tests import images
from tests.e2e.browser import CAPTION, card, expect, screenshot
from tests.e2e.photos import landscape

pytestmark = pytest.mark.browser


def write(folder, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def row(page, name: str):
    return page.locator(".upload", has=page.locator(".upload-name", has_text=re.compile(f"^{re.escape(name)}$")))


def throttle_uploads(page, bytes_per_second: int) -> None:
    """Slow the page's uploads (Chromium's network emulation), so progress can be watched."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": bytes_per_second}
    cdp.send("Network.emulateNetworkConditions", conditions)


def test_file_picker_uploads_with_progress_outcomes_and_live_gallery(page, live_server, console, tmp_path):
    harbour = landscape(1)
    page.goto("/")
    page.evaluate("window.sameDocument = true")
    page.set_input_files("#file", [write(tmp_path, "harbour.jpg", harbour)])
    expect(row(page, "harbour.jpg")).to_have_attribute("data-state", "accepted")

    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    live_server.gemini.delay_seconds = 1.0  # captions arrive a little later than thumbnails
    throttle_uploads(page, 160 * 1024)
    try:
        page.set_input_files(
            "#file",
            [
                write(tmp_path, "meadow.jpg", landscape(2, (900, 600), grain=True)),
                write(tmp_path, "river.png", landscape(3, (480, 320), fmt="PNG", grain=True)),
                write(tmp_path, "harbour copy.jpg", harbour),
                write(tmp_path, "broken.jpg", images.truncated_jpeg()),
                write(tmp_path, "notes.txt", b"not a picture\n"),
                write(tmp_path, "huge.jpg", os.urandom(1_200_000)),
            ],
        )
        # Progress counts bytes sent: caught part-way, then the user scrolls down to the gallery.
        expect(row(page, "meadow.jpg")).to_have_attribute("data-state", "sending")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.upload progress')].some(bar => bar.value >= 20 && bar.value <= 80)"
        )
        screenshot(page, "upload-in-progress.png")
        page.mouse.wheel(0, 1500)

        expect(row(page, "notes.txt")).to_contain_text(f"Not sent: only {SUPPORTED_NAMES} images are accepted.")
        expect(row(page, "huge.jpg")).to_contain_text("Not sent: the file is larger than 1 MiB.")
        expect(row(page, "meadow.jpg")).to_have_attribute("data-state", "accepted", timeout=15_000)
        meadow = card(page, "meadow.jpg")  # in the gallery at once, its caption still on the way
        expect(meadow.locator('[data-job="caption"]')).to_have_text(re.compile("Caption: (pending|processing)"))
        expect(row(page, "river.png")).to_have_attribute("data-state", "accepted", timeout=15_000)
        expect(row(page, "harbour copy.jpg")).to_have_attribute("data-state", "duplicate")
        expect(row(page, "harbour copy.jpg")).to_contain_text("Already in the gallery")
        expect(row(page, "broken.jpg")).to_have_attribute("data-state", "refused")
        expect(row(page, "broken.jpg")).to_contain_text(re.compile(r"Refused: broken\.jpg: .*damaged"))
        expect(page.locator("#upload-summary")).to_have_text("4 of 7 stored · 1 already there · 3 refused")
        assert page.locator("#retry-uploads").is_hidden()  # refusals are final: nothing to retry
        states = page.locator("#upload-list .upload").evaluate_all("rows => rows.map(row => row.dataset.state)")
        assert states[:3] == ["refused"] * 3, f"refused files are listed first: {states}"

        expect(meadow.locator('[data-job="thumbnail"]')).to_have_count(0)  # completed: no icon left
        for name in ("meadow.jpg", "river.png"):
            expect(card(page, name).locator(".state")).to_have_count(0)
            expect(row(page, name)).to_contain_text("Done: thumbnail and caption are ready.")
            expect(card(page, name).locator(".caption")).to_have_text(CAPTION)
            expect(card(page, name).locator("img")).to_have_attribute("alt", CAPTION)
    finally:
        live_server.gemini.delay_seconds = 0.0

    uploads = [request for request in posts if request.url.endswith("/upload")]
    assert len(uploads) == 4, "one request per file; client-refused files are never sent"
    assert all(request.headers.get("x-csrftoken") for request in uploads)
    assert [bar.get_attribute("value") for bar in row(page, "notes.txt").locator("progress").all()] == ["0"]
    expect(card(page, "harbour.jpg")).to_have_count(1)  # the duplicate did not add a second card
    names = page.locator("#gallery .card").evaluate_all("cards => cards.map(card => card.dataset.filename)")
    assert names.index("river.png") < names.index("harbour.jpg") and names.index("meadow.jpg") < names.index(
        "harbour.jpg"
    )
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    # Chromium logs every 4xx answer; the one the server refused is the only error.
    assert console.errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]


def test_files_dropped_on_the_zone_are_uploaded(page, console):
    page.goto("/")
    data = base64.b64encode(landscape(4, fmt="PNG")).decode()
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (char) => char.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        ["dropped.png", data],
    )
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": transfer})
    expect(page.locator("#drop-zone")).to_have_class(re.compile("drop-zone-active"))
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})

    expect(row(page, "dropped.png")).to_have_attribute("data-state", "accepted")
    expect(page.locator("#drop-zone")).not_to_have_class(re.compile("drop-zone-active"))
    expect(card(page, "dropped.png").locator("img")).to_have_attribute("alt", CAPTION)
    assert console.errors == []


def test_uploads_that_failed_on_the_way_are_retried(page, console, tmp_path):
    page.goto("/")
    page.route("**/upload", lambda route: route.abort("connectionreset"))
    page.set_input_files(
        "#file", [write(tmp_path, "lake.jpg", landscape(5)), write(tmp_path, "forest.jpg", landscape(6))]
    )
    for name in ("lake.jpg", "forest.jpg"):
        expect(row(page, name)).to_have_attribute("data-state", "failed")
        expect(row(page, name)).to_contain_text("Failed: the connection failed")
    expect(page.locator("#upload-summary")).to_have_text("0 of 2 stored · 2 failed")

    page.unroute("**/upload")
    page.get_by_role("button", name="Retry failed uploads").click()

    for name in ("lake.jpg", "forest.jpg"):
        expect(row(page, name)).to_have_attribute("data-state", "accepted")
    expect(page.get_by_role("button", name="Retry failed uploads")).to_be_hidden()
    assert all("ERR_CONNECTION_RESET" in error for error in console.errors)


def test_keyboard_alone_reaches_and_uses_the_file_picker(page, console, tmp_path):
    # Turn on Playwright's file-chooser interception well before the key press (it is enabled asynchronously).
    page.on("filechooser", lambda _chooser: None)
    page.goto("/")
    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert focused == [
        "Skip to content",
        "Image Annotation",
        "Upload",
        "Gallery",
        "Settings",
        "Users",
        "Sign out",
        "file",
    ]
    outline = page.eval_on_selector("label[for=file]", "label => getComputedStyle(label).outlineStyle")
    assert outline == "solid", "the focused picker shows a visible focus ring"

    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(write(tmp_path, "keyboard.jpg", landscape(7)))

    expect(row(page, "keyboard.jpg")).to_have_attribute("data-state", "accepted")
    expect(page.get_by_role("link", name="View")).to_have_attribute("href", re.compile(r"^/images/\d+$"))
    assert console.errors == []
