"""No provider, no red wall: without a caption provider the pages show one notice saying how to add one, and
no photo turns red; once the app is restarted with a provider, the waiting captions complete by themselves."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from conftest import ADMIN_PASSWORD
from tests.e2e.browser import CAPTION, card, expect, sign_in
from tests.e2e.conftest import live_settings, serving
from tests.e2e.photos import landscape
from tests.fake_gemini import FakeGemini

pytestmark = pytest.mark.browser
NAMES = ("first-light.jpg", "second-light.jpg")


def signed_in_page(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 1200, "height": 820})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "admin", ADMIN_PASSWORD)
    return context, page, errors


def test_captions_wait_under_one_notice_and_complete_after_a_restart_with_a_provider(browser, tmp_path):
    settings = live_settings(tmp_path / "data")
    files = []
    for seed, name in enumerate(NAMES):
        (tmp_path / name).write_bytes(landscape(500 + seed))
        files.append(str(tmp_path / name))

    with serving(settings, None) as server:
        context, page, errors = signed_in_page(browser, server)
        try:
            page.goto("/")
            notice = page.locator("#provider-notice")
            expect(notice).to_be_hidden()
            page.set_input_files("#file", files)
            for name in NAMES:
                row = page.locator(".upload", has=page.locator(".upload-name", has_text=re.compile(f"^{name}$")))
                expect(row).to_contain_text("the caption waits for a caption provider")
                expect(row).to_have_attribute("data-jobs", "waiting")
            expect(notice).to_be_visible()  # shown as soon as the first caption waits, without a reload
            expect(notice).to_contain_text("GEMINI_API_KEY")

            page.goto("/gallery")
            expect(page.locator(".notice")).to_have_count(1)
            expect(page.locator("#provider-notice")).to_be_visible()
            for name in NAMES:
                expect(card(page, name).locator('.state-waiting[data-job="caption"]')).to_have_text(
                    "Caption: waiting for a caption provider"
                )
            expect(page.locator(".state-failed, .badge-failed")).to_have_count(0)  # no red anywhere
            assert errors == []
        finally:
            context.close()

    with FakeGemini(caption=CAPTION) as gemini:
        gemini.alt_text = CAPTION
        provided = replace(settings, gemini_api_key="now-set", gemini_base_url=gemini.base_url)
        with serving(provided, gemini) as server:
            context, page, errors = signed_in_page(browser, server)
            try:
                page.goto("/gallery")
                for name in NAMES:  # the restarted worker makes them due at once; the page follows them live
                    expect(card(page, name).locator(".state")).to_have_count(0, timeout=15_000)
                    expect(card(page, name).locator(".caption")).to_have_text(CAPTION)
                page.reload()
                expect(page.locator("#provider-notice")).to_be_hidden()
                assert len(gemini.requests) == len(NAMES)
                assert errors == []
            finally:
                context.close()
