"""Helpers for tests that drive the web app through Flask's test client: CSRF token, uploads, seeded images."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from annotation_core.records import Role
from annotation_core.uploads import check_upload, store_upload

JSON = {"Accept": "application/json"}
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_token(client) -> str:
    """The token a page hands its scripts (the sign-in page's, before signing in); the client keeps the
    session cookie it belongs to."""
    return _META.search(client.get("/", follow_redirects=True).get_data(as_text=True)).group(1)


def add_user(app, username: str, role: str, password: str | None = None, *, must_change: bool = False) -> int:
    """Create an account directly (password: `<username>-password` unless given); returns its id."""
    services, passwords = app.extensions["annotation"], app.extensions["passwords"]
    password_hash = passwords.hash(password or f"{username}-password")
    return services.users.create(username, password_hash, Role(role), must_change_password=must_change).id


def sign_in(client, username: str, password: str):
    """Sign in through the form, as a person would; returns the client, now holding the session cookie."""
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def upload(client, *files: tuple[bytes, str], headers: dict[str, str] | None = None, token: bool = True):
    """POST /upload as the page's script does: multipart field `file`, JSON wanted, token in X-CSRFToken."""
    # Encode the body ourselves: the test client would spool a large one to a temp file it never closes.
    boundary, body = encode_multipart(MultiDict([("file", FileStorage(io.BytesIO(c), n)) for c, n in files]))
    headers = {**JSON, **(headers or {})}
    if token:
        headers["X-CSRFToken"] = csrf_token(client)
    return client.post("/upload", data=body, headers=headers, content_type=f"multipart/form-data; boundary={boundary}")


def seed(
    worker, filename: str, data: bytes, fake_gemini=None, caption: str | None = None, uploaded_by: int | None = None
) -> int:
    """Store an image as an upload by `uploaded_by` would (None: from before accounts existed) and wait for
    the app's worker to run both jobs; `caption` is what the fake Gemini answers."""
    if caption is not None:
        fake_gemini.caption = caption
    checked = check_upload(worker.services, filename, data)
    image_id = store_upload(worker.services, checked, uploaded_by).record.id
    assert worker.drain(timeout=30), "jobs did not finish"
    return image_id


class PageMarkup(HTMLParser):
    """What a page's HTML holds that safety rules care about: scripts, styles, event handlers, hidden fields."""

    def __init__(self):
        super().__init__()
        self.scripts, self.styled, self.handlers, self.hidden = [], [], [], {}

    @classmethod
    def hidden_fields(cls, html: str) -> dict[str, str]:
        parser = cls()
        parser.feed(html)
        return parser.hidden

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style" or "style" in attributes:
            self.styled.append(tag)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "input" and attributes.get("type") == "hidden":
            self.hidden[attributes["name"]] = attributes["value"]
