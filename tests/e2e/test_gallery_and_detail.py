"""Gallery and detail pages in Chromium: live cards, search and filter, retry after Gemini recovers, delete, mobile."""

from __future__ import annotations

import re

import pytest

from annotation_core.records import JobState
from annotation_core.uploads import check_upload, store_upload
from tests.e2e.browser import CAPTION, card, expect, screenshot
from tests.e2e.photos import landscape

pytestmark = pytest.mark.browser

SCENES = [
    ("lighthouse.jpg", "A white lighthouse on a rocky coast at dusk."),
    ("market.jpg", "A busy fruit market under striped awnings."),
    ("alpine-lake.jpg", "A still alpine lake mirroring snowy peaks."),
    ("orchard.png", "Rows of apple trees in an orchard in late summer."),
    ("dunes.jpg", "Wind-shaped sand dunes under a pale sky."),
]
STATUS_400 = "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"


@pytest.fixture(scope="module")
def scenes(live_server) -> dict[str, int]:
    """A small gallery: five captioned photos, then one whose caption Gemini refused."""
    ids = {}
    for seed, (name, caption) in enumerate(SCENES, start=10):
        fmt = "PNG" if name.endswith(".png") else "JPEG"
        ids[name] = live_server.add_image(name, landscape(seed, fmt=fmt), caption=caption)
    live_server.gemini.respond_with(403)
    ids["foggy.jpg"] = live_server.add_image("foggy.jpg", landscape(16))
    return ids


def gallery_names(page) -> list[str]:
    return page.locator("#gallery .card").evaluate_all("cards => cards.map(card => card.dataset.filename)")


def test_gallery_searches_captions_and_names_and_filters_by_state(page, live_server, scenes, console):
    page.goto("/gallery")
    # Other tests of this module add photos to the same server, before or after this one (the order is random).
    shown = [name for name in gallery_names(page) if name in scenes]
    assert shown == ["foggy.jpg", *reversed([name for name, _ in SCENES])]
    lighthouse = card(page, "lighthouse.jpg")
    expect(lighthouse.locator("img")).to_have_attribute("alt", SCENES[0][1])
    expect(lighthouse.locator(".caption")).to_have_text(SCENES[0][1])
    expect(card(page, "foggy.jpg").locator('.state-failed[data-job="caption"]')).to_have_text("Caption: failed")
    expect(lighthouse.locator(".state")).to_have_count(0)  # a job's state shows only until it completes

    search = page.get_by_label("Search captions, tags and file names")
    search.fill("fruit")  # a word of a caption
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/gallery\?q=fruit"))
    assert gallery_names(page) == ["market.jpg"]

    page.get_by_label("Search captions, tags and file names").fill("orch")  # the start of a file name
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=orch"))
    assert gallery_names(page) == ["orchard.png"]

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("State", exact=True).select_option("failed")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    failed = [record.filename for record in live_server.services.repository.page(status=JobState.FAILED)]
    assert "foggy.jpg" in failed
    assert gallery_names(page) == failed
    assert console.errors == []


def test_gallery_cards_still_processing_update_in_place(page, live_server, scenes, console):
    live_server.gemini.respond_with(200, delay_seconds=1.5)
    services = live_server.services
    image_id = store_upload(services, check_upload(services, "slow-caption.jpg", landscape(40))).record.id

    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/api/image_status" in request.url else None)
    page.goto("/gallery")
    page.evaluate("window.sameDocument = true")
    slow = card(page, "slow-caption.jpg")
    expect(slow).to_have_attribute("data-image-id", str(image_id))
    expect(slow.locator('[data-job="caption"]')).to_have_text(re.compile("Caption: (pending|processing)"))

    expect(slow.locator('[data-job="caption"]')).to_have_count(0, timeout=8_000)
    expect(slow.locator("img")).to_have_attribute("alt", CAPTION)
    expect(slow.locator(".caption")).to_have_text(CAPTION)
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    assert polls and all(url.endswith(f"/api/image_status?ids={image_id}") for url in polls), polls
    assert console.errors == []


def test_detail_page_retries_a_failed_caption_after_gemini_recovers(page, live_server, console):
    live_server.gemini.respond_with(403)
    image_id = live_server.add_image("storm.jpg", landscape(41, (800, 533)))

    page.goto(f"/images/{image_id}")  # the page a shared link opens
    caption_job = page.locator('.job[data-job="caption"]')
    expect(caption_job.locator('[data-field="state"]')).to_have_text("failed")
    expect(caption_job.locator('[data-field="error"]')).to_contain_text("GEMINI_API_KEY")
    facts = page.locator(".facts")
    for fact in ("storm.jpg", "image/jpeg", "800 × 533 px"):
        expect(facts).to_contain_text(fact)
    uploaded = facts.locator("time[data-local]")  # in the reader's time zone, UTC in the tooltip
    expect(uploaded).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    expect(uploaded).not_to_contain_text("UTC")

    live_server.gemini.respond_with(403, delay_seconds=0.5)  # a retry while the key is still refused
    page.get_by_role("button", name="Retry now").click()
    expect(page.locator(".flash")).to_have_text("Retrying the caption.")
    expect(caption_job.locator('[data-field="state"]')).to_have_text("failed")
    expect(page.locator(".flash")).to_have_count(0)  # no green "Retrying" above a red "failed"

    live_server.gemini.respond_with(200, delay_seconds=1.0)  # recovered, and a little slow
    page.get_by_role("button", name="Retry now").click()
    expect(page.locator(".flash")).to_have_text("Retrying the caption.")
    page.evaluate("window.sameDocument = true")
    expect(caption_job.locator('[data-field="state"]')).to_have_text(re.compile("pending|processing"))

    expect(caption_job.locator('[data-field="state"]')).to_have_text("completed", timeout=8_000)
    expect(caption_job.locator('[data-field="attempts"]')).to_have_text("1")
    expect(caption_job.locator('[data-field="error"]')).to_have_text("—")
    expect(page.locator('figcaption [data-field="caption"]')).to_have_text(CAPTION)
    expect(page.locator('[data-field="caption_model"]')).not_to_have_text("—")
    expect(page.locator(".original img")).to_have_attribute("alt", CAPTION)
    expect(page.get_by_role("button", name="Retry now")).to_be_hidden()
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    page.locator(".flash").evaluate("flash => flash.remove()")  # the screenshot shows the page at rest
    screenshot(page, "detail.png")
    assert console.errors == []


def test_the_page_of_a_photo_moves_it_to_the_trash_and_undo_brings_it_back(page, live_server, console):
    image_id = live_server.add_image("to-delete.jpg", landscape(42))
    record = live_server.services.repository.get(image_id)
    page.goto(f"/images/{image_id}")

    forged = page.evaluate("fetch('/api/images/delete', {method: 'POST', body: '{}'}).then(r => r.status)")
    assert forged == 400, "a script without the CSRF token is refused"
    page.get_by_role("button", name="Move to trash").click()

    expect(page).to_have_url(re.compile(r"/gallery$"))
    expect(page.locator(".flash-undo")).to_contain_text("Moved to-delete.jpg to the trash.")
    expect(card(page, "to-delete.jpg")).to_have_count(0)
    assert page.request.get(f"/api/images/{image_id}").status == 404
    assert live_server.services.originals.exists(record.original_key), "kept in the trash until it is purged"

    page.locator(".flash-undo").get_by_role("button", name="Undo").click()
    expect(page).to_have_url(re.compile(rf"/images/{image_id}$"))
    expect(page.locator(".flash")).to_have_text("Restored it from the trash.")
    assert console.errors == [STATUS_400]
