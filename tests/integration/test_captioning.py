"""GeminiCaptioner through the real google-genai SDK against the fake Gemini server; MIME sniffing."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from google.genai import errors
from PIL import Image

from annotation_core.errors import CaptionProviderError
from annotation_core.media_types import sniff_mime_type
from lambda_functions.annotation_lambda.captioning import Caption, GeminiCaptioner
from tests.fake_gemini import FakeGemini

MODEL = "gemini-test-flash"
PROMPT = "Describe this image in detail."
API_KEY = "test-key-123"


def image_bytes(fmt: str) -> bytes:
    """A small real image in `fmt`, made by Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture
def make_captioner(fake: FakeGemini) -> Iterator[Callable[..., GeminiCaptioner]]:
    made: list[GeminiCaptioner] = []

    def make(**overrides: object) -> GeminiCaptioner:
        options: dict = {
            "api_key": API_KEY,
            "model": MODEL,
            "prompt": PROMPT,
            "base_url": fake.base_url,
            "timeout_seconds": 5,
            "max_attempts": 4,
            "initial_retry_delay": 0.01,
        }
        options.update(overrides)
        captioner = GeminiCaptioner(**options)
        made.append(captioner)
        return captioner

    yield make
    for captioner in made:
        captioner.close()


PNG = image_bytes("PNG")


def test_success_returns_stripped_caption_and_model(fake, make_captioner):
    fake.caption = "  A red rectangle on nothing.\n"
    assert make_captioner().caption(PNG, "image/png") == Caption("A red rectangle on nothing.", MODEL)


def test_request_carries_api_key_prompt_and_image(fake, make_captioner):
    jpeg = image_bytes("JPEG")
    make_captioner().caption(jpeg, sniff_mime_type(jpeg))
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path.endswith(f"/models/{MODEL}:generateContent")
    assert request.model == MODEL
    assert request.headers["x-goog-api-key"] == API_KEY
    assert request.texts == [PROMPT]
    assert request.images == [("image/jpeg", jpeg)]


def test_client_is_made_once_and_reused(fake, make_captioner):
    captioner = make_captioner()
    captioner.caption(PNG, "image/png")
    client = captioner._get_client()
    captioner.caption(PNG, "image/png")
    assert captioner._get_client() is client
    assert len(fake.requests) == 2


def test_429_then_success_is_retried(fake, make_captioner):
    fake.respond_with(429)
    assert make_captioner().caption(PNG, "image/png").text == fake.caption
    assert len(fake.requests) == 2


def test_503_three_times_then_success_with_four_attempts(fake, make_captioner):
    for _ in range(3):
        fake.respond_with(503)
    assert make_captioner(max_attempts=4).caption(PNG, "image/png").text == fake.caption
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    ("status", "status_name"), [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED")]
)
def test_refused_request_fails_at_once_naming_the_key(fake, make_captioner, status, status_name):
    fake.respond_with(status)
    with pytest.raises(CaptionProviderError) as caught:
        make_captioner().caption(PNG, "image/png")
    assert len(fake.requests) == 1
    message = caught.value.message
    assert "Gemini refused the request" in message
    assert f"{status} {status_name}" in message
    assert "GEMINI_API_KEY" in message
    assert isinstance(caught.value.__cause__, errors.ClientError)


def test_unknown_model_names_the_setting(fake, make_captioner):
    fake.respond_with(404, FakeGemini.error_body(404, f"models/{MODEL} is not found for API version v1"))
    with pytest.raises(CaptionProviderError, match="GEMINI_MODEL_NAME") as caught:
        make_captioner().caption(PNG, "image/png")
    assert MODEL in caught.value.message
    assert len(fake.requests) == 1


def test_rate_limit_after_all_attempts_says_retry_later(fake, make_captioner):
    for _ in range(3):
        fake.respond_with(429)
    with pytest.raises(CaptionProviderError, match="rate-limiting") as caught:
        make_captioner(max_attempts=3).caption(PNG, "image/png")
    assert "retry later" in caught.value.message
    assert "after 3 attempts" in caught.value.message
    assert len(fake.requests) == 3


def test_unavailable_after_all_attempts_says_retry_later(fake, make_captioner):
    for _ in range(2):
        fake.respond_with(500)
    with pytest.raises(CaptionProviderError, match="unavailable.*retry later"):
        make_captioner(max_attempts=2).caption(PNG, "image/png")
    assert len(fake.requests) == 2


def test_timeout_is_retried_then_reported(fake, make_captioner):
    fake.delay_seconds = 5.0
    started = time.monotonic()
    with pytest.raises(CaptionProviderError, match="did not answer within 1 s") as caught:
        make_captioner(timeout_seconds=1, max_attempts=2).caption(PNG, "image/png")
    elapsed = time.monotonic() - started
    assert "GEMINI_TIMEOUT_SECONDS" in caught.value.message
    assert len(fake.requests) == 2
    assert 1.9 < elapsed < 4.5  # two one-second timeouts (HttpOptions.timeout is in milliseconds)
    assert fake.requests[0].headers["x-server-timeout"] == "1"


def test_unreachable_server_is_reported(make_captioner):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(CaptionProviderError, match="Could not reach") as caught:
        make_captioner(base_url=closed_url, max_attempts=2).caption(PNG, "image/png")
    assert "GEMINI_BASE_URL" in caught.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (FakeGemini.blocked_body("SAFETY"), "finish reason SAFETY"),
        (FakeGemini.success_body("   ", finish_reason="STOP"), "finish reason STOP"),
        ({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}, "prompt blocked: PROHIBITED_CONTENT"),
        ({"candidates": []}, "empty answer"),
    ],
)
def test_empty_or_blocked_answer_is_an_error(fake, make_captioner, body, expected):
    fake.respond_with(200, body)
    with pytest.raises(CaptionProviderError, match="Gemini returned no caption") as caught:
        make_captioner().caption(PNG, "image/png")
    assert expected in caught.value.message
    assert len(fake.requests) == 1


def test_missing_api_key_fails_without_calling_gemini(fake, make_captioner):
    with pytest.raises(CaptionProviderError, match="GEMINI_API_KEY"):
        make_captioner(api_key="").caption(PNG, "image/png")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")]
)
def test_sniff_mime_type_of_real_images(fmt, mime):
    assert sniff_mime_type(image_bytes(fmt)) == mime


def test_sniff_mime_type_ignores_what_is_not_an_image():
    assert sniff_mime_type(b"just some text, not a picture\n") == "text/plain"
