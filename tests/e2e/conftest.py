"""Browser fixtures: the app on a real threaded HTTP server on 127.0.0.1, driven by Debian's Chromium via Playwright.

Without Chromium (or the playwright package) the browser tests are skipped with a message saying what to
install; with REQUIRE_BROWSER_TESTS=1 (CI) they fail instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from annotation_core.bootstrap import bootstrap
from annotation_core.settings import Settings
from conftest import ADMIN_PASSWORD, FAST_HASHING
from tests.e2e.browser import CAPTION, CHROMIUM, CHROMIUM_ARGS, REQUIRE_BROWSER, ConsoleLog, LiveServer, sign_in
from tests.fake_gemini import FakeGemini


def _unavailable(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (each test gets its own context)."""
    if not Path(CHROMIUM).is_file():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def serving(settings: Settings, gemini: FakeGemini | None) -> Iterator[LiveServer]:
    """The app with `settings` on a real threaded HTTP server on 127.0.0.1, with its job worker."""
    from web_app.app import create_app

    services = bootstrap(settings, migrate=True)
    app = create_app(services=services)
    server = make_server("127.0.0.1", 0, _closing_responses(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app.extensions["local_worker"], gemini)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        app.extensions["local_worker"].stop()
        services.close()


def _closing_responses(app):
    """The app, with every response closed however the server stops sending it.

    werkzeug's development server closes a response only after draining the request, and skips the close when
    the browser has gone by then (an image cancelled mid-scroll): the file behind it is left to the garbage
    collector, whose ResourceWarning fails whichever test runs at that moment. gunicorn always closes.
    """

    def closing(environ, start_response):
        body = app(environ, start_response)
        try:
            yield from body
        finally:
            if hasattr(body, "close"):
                body.close()

    return closing


def live_settings(data_dir: Path, **overrides) -> Settings:
    """What the browser tests' servers share: small uploads, fast hashing, the known admin password."""
    values = dict(
        data_dir=str(data_dir),
        max_upload_mb=1,
        thumbnail_width=256,
        thumbnail_height=256,
        worker_threads=4,
        admin_password=ADMIN_PASSWORD,
        **FAST_HASHING,
    )
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    with FakeGemini(caption=CAPTION) as gemini:
        gemini.alt_text = CAPTION
        data = tmp_path_factory.mktemp("live") / "data"
        settings = live_settings(data, gemini_api_key="test-key", gemini_base_url=gemini.base_url)
        with serving(settings, gemini) as server:
            yield server


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def anonymous_page(browser, live_server, console):
    """A fresh desktop-sized page (own cookies and session) on the live server, not signed in."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 820})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda message: console.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console.errors.append(str(error)))
    yield page
    context.close()


@pytest.fixture
def page(anonymous_page):
    """The same, signed in as the admin through the sign-in form."""
    sign_in(anonymous_page, "admin", ADMIN_PASSWORD)
    return anonymous_page
