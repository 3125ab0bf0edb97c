"""GeminiCaptioner through the real google-genai SDK against the fake Gemini server; MIME sniffing.

One request per call: transient answers raise RetryLaterError (the job lifecycle retries), the rest
CaptionProviderError saying what to fix."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from google.genai import errors
from PIL import Image

from annotation_core.errors import CaptionProviderError, RetryLaterError
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


def test_429_is_a_throttle_carrying_the_wait_gemini_asks_for(fake, make_captioner):
    fake.respond_with(429, FakeGemini.error_body(429, retry_delay="37s"))
    with pytest.raises(RetryLaterError, match="rate-limiting") as caught:
        make_captioner().caption(PNG, "image/png")
    assert caught.value.throttled is True
    assert caught.value.retry_after == 37.0
    assert len(fake.requests) == 1, "no retry inside the call: the job waits instead"


def test_429_with_fractional_retry_delay(fake, make_captioner):
    fake.respond_with(429, FakeGemini.error_body(429, retry_delay="1.5s"))
    with pytest.raises(RetryLaterError) as caught:
        make_captioner().caption(PNG, "image/png")
    assert caught.value.retry_after == 1.5


def test_429_without_retry_info_leaves_the_wait_to_the_backoff(fake, make_captioner):
    fake.respond_with(429, FakeGemini.error_body(429))
    with pytest.raises(RetryLaterError) as caught:
        make_captioner().caption(PNG, "image/png")
    assert (caught.value.throttled, caught.value.retry_after) == (True, None)


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_unavailable_is_retried_later_and_counts_as_an_attempt(fake, make_captioner, status):
    fake.respond_with(status)
    with pytest.raises(RetryLaterError, match="unavailable") as caught:
        make_captioner().caption(PNG, "image/png")
    assert caught.value.throttled is False
    assert len(fake.requests) == 1


def test_api_key_invalid_is_permanent(fake, make_captioner):
    body = FakeGemini.error_body(400, "API key not valid. Please pass a valid API key.")
    body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    fake.respond_with(400, body)
    with pytest.raises(CaptionProviderError, match="check GEMINI_API_KEY$"):
        make_captioner().caption(PNG, "image/png")


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


def test_timeout_is_retried_later_naming_the_setting(fake, make_captioner):
    fake.delay_seconds = 5.0
    started = time.monotonic()
    with pytest.raises(RetryLaterError, match="did not answer within 2 s") as caught:
        make_captioner(timeout_seconds=2).caption(PNG, "image/png")
    elapsed = time.monotonic() - started
    assert "GEMINI_TIMEOUT_SECONDS" in caught.value.message
    assert len(fake.requests) == 1
    assert 1.9 < elapsed < 3.5  # one two-second timeout (HttpOptions.timeout is in milliseconds)
    assert fake.requests[0].headers["x-server-timeout"] == "2"


def test_the_deadline_shortens_the_request(fake, make_captioner):
    fake.delay_seconds = 5.0
    started = time.monotonic()
    with pytest.raises(RetryLaterError, match="did not answer within 3 s"):
        make_captioner(timeout_seconds=30).caption(PNG, "image/png", deadline=time.monotonic() + 3)
    assert time.monotonic() - started < 4.5


def test_no_time_left_asks_nothing_and_retries_later(fake, make_captioner):
    with pytest.raises(RetryLaterError, match="Not enough time"):
        make_captioner().caption(PNG, "image/png", deadline=time.monotonic() + 1)
    assert fake.requests == []


def test_unreachable_server_is_retried_later(make_captioner):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(RetryLaterError, match="Could not reach") as caught:
        make_captioner(base_url=closed_url).caption(PNG, "image/png")
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
