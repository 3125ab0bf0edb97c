"""What the browser tests share: where Chromium is, the live server's handle, console errors, screenshots."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lambda_functions.local_worker import LocalWorker
from tests.fake_gemini import FakeGemini

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER_TESTS") == "1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CAPTION = "A calm landscape with soft evening light."


@dataclass
class LiveServer:
    """The app served over real HTTP, with its job worker and the fake Gemini it captions with."""

    url: str
    worker: LocalWorker
    gemini: FakeGemini | None  # None: no caption provider configured

    @property
    def services(self):
        return self.worker.services

    def settle(self) -> None:
        """Wait until every queued thumbnail and caption job has run."""
        assert self.worker.drain(timeout=20), "jobs did not finish"

    def add_image(self, filename: str, data: bytes, caption: str | None = None) -> int:
        """Store an image as an upload would (setting up a test without the browser); processed at once."""
        from annotation_core.uploads import check_upload, store_upload

        self.settle()
        default = (self.gemini.caption, self.gemini.alt_text)
        self.gemini.caption = self.gemini.alt_text = caption or self.gemini.caption  # alt text as the caption
        try:
            image_id = store_upload(self.services, check_upload(self.services, filename, data)).record.id
            self.settle()
        finally:
            self.gemini.caption, self.gemini.alt_text = default
        return image_id


@dataclass
class ConsoleLog:
    """Errors the page reported: script exceptions, CSP violations, failed loads."""

    errors: list[str] = field(default_factory=list)


def screenshot(page, name: str) -> Path:
    """Save a viewport screenshot to docs/screenshots/ (the README shows them); keep each small (photos: .jpg)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), **({"quality": 80} if name.endswith(".jpg") else {}))
    assert path.stat().st_size < 300_000, f"{name} is {path.stat().st_size} bytes; keep screenshots under 300 KB"
    return path


def sign_in(page, username: str, password: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def card(page, name: str):
    """The tile of the photo uploaded as `name` (tiles show the caption, not the file name)."""
    return page.locator(f'#gallery .card[data-filename="{name}"]')


def expect(target, *args, **kwargs):
    """Playwright's retrying assertions, imported late: without playwright the `browser` fixture explains."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target, *args, **kwargs)
