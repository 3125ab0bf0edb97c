"""Both caption providers through their real SDKs (google-genai, openai) against strict fake servers on
127.0.0.1: one request per call, a structured answer, transient trouble retried later (RetryLaterError),
everything else a CaptionProviderError naming the setting to fix."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image

from annotation_core.caption_request import CAPTION_SCHEMA
from annotation_core.errors import CaptionProviderError, ProviderNotConfiguredError, RetryLaterError
from lambda_functions.annotation_lambda.gemini_provider import GeminiProvider
from lambda_functions.annotation_lambda.openai_provider import OpenAICompatibleProvider
from tests.fake_gemini import FakeGemini
from tests.fake_openai import FakeOpenAI

MODEL = "vision-test"
KEY = "test-key-123"
PROMPT = "Describe this photo."


def jpeg(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


@dataclass
class Setup:
    """One provider, its fake server, and how that server spells its answers."""

    kind: str
    fake: Any
    make: Any  # (**overrides) -> provider

    def later(self, seconds: float = 5.0) -> float:
        return time.monotonic() + seconds

    def queue_throttle(self, seconds: int) -> None:
        if self.kind == "gemini":
            self.fake.respond_with(429, FakeGemini.error_body(429, retry_delay=f"{seconds}s"))
        else:
            self.fake.respond_with(429, headers={"retry-after": str(seconds)})

    def queue_blocked(self) -> None:
        if self.kind == "gemini":
            self.fake.respond_with(200, FakeGemini.blocked_body("SAFETY"))
        else:
            self.fake.respond_with(200, FakeOpenAI.completion(None, refusal="I can't describe this image."))

    def key_setting(self) -> str:
        return "GEMINI_API_KEY" if self.kind == "gemini" else "OPENAI_API_KEY"

    def model_setting(self) -> str:
        return "GEMINI_MODEL_NAME" if self.kind == "gemini" else "OPENAI_MODEL"

    def timeout_setting(self) -> str:
        return "GEMINI_TIMEOUT_SECONDS" if self.kind == "gemini" else "OPENAI_TIMEOUT_SECONDS"


@pytest.fixture(params=["gemini", "openai"])
def setup(request) -> Iterator[Setup]:
    fake = FakeGemini() if request.param == "gemini" else FakeOpenAI()
    made = []

    def make(**overrides):
        options = {"api_key": KEY, "model": MODEL, "base_url": fake.base_url, "timeout_seconds": 5, **overrides}
        provider = GeminiProvider(**options) if request.param == "gemini" else OpenAICompatibleProvider(**options)
        made.append(provider)
        return provider

    with fake:
        fake.api_key = KEY
        yield Setup(request.param, fake, make)
        for provider in made:
            provider.close()


def test_a_structured_answer_with_its_provenance(setup):
    setup.fake.caption = "A red square on nothing."
    reply = setup.make().describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    assert '"caption": "A red square on nothing."' in reply.text
    assert reply.model == MODEL
    assert reply.input_tokens > 0 and reply.output_tokens > 0


def test_the_request_carries_the_key_the_prompt_the_jpeg_and_the_schema(setup):
    image = jpeg()
    setup.make().describe(image, PROMPT, CAPTION_SCHEMA, setup.later())
    [request] = setup.fake.requests
    assert request.model == MODEL
    assert request.texts == [PROMPT]
    assert request.images == [("image/jpeg", image)]
    if setup.kind == "gemini":
        assert request.headers["x-goog-api-key"] == KEY
        assert request.generation_config["responseMimeType"] == "application/json"
        assert request.generation_config["responseJsonSchema"] == CAPTION_SCHEMA
    else:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        response_format = request.body["response_format"]
        assert response_format["type"] == "json_schema" and response_format["json_schema"]["strict"] is True
        assert response_format["json_schema"]["schema"] == CAPTION_SCHEMA


def test_the_client_is_made_once_and_reused(setup):
    provider = setup.make()
    provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    client = provider._get_client()
    provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    assert provider._get_client() is client
    assert len(setup.fake.requests) == 2


def test_a_rate_limit_is_a_throttle_with_the_wait_the_server_asks_for(setup):
    setup.queue_throttle(37)
    with pytest.raises(RetryLaterError, match="rate-limiting") as caught:
        setup.make().describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    assert (caught.value.throttled, caught.value.retry_after) == (True, 37.0)
    assert len(setup.fake.requests) == 1, "no retry inside the call: the job waits instead"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_later_and_count_as_attempts(setup, status):
    setup.fake.respond_with(status)
    with pytest.raises(RetryLaterError, match="unavailable") as caught:
        setup.make().describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    assert caught.value.throttled is False
    assert len(setup.fake.requests) == 1


def test_a_wrong_key_fails_for_good_naming_the_setting(setup):
    with pytest.raises(CaptionProviderError) as caught:
        setup.make(api_key="wrong-key").describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    assert setup.key_setting() in caught.value.message


def test_an_unknown_model_fails_for_good_naming_the_setting(setup):
    setup.fake.models = {"some-other-model"}
    with pytest.raises(CaptionProviderError) as caught:
        setup.make().describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    assert setup.model_setting() in caught.value.message and MODEL in caught.value.message


def test_a_safety_block_fails_for_good(setup):
    setup.queue_blocked()
    with pytest.raises(CaptionProviderError) as caught:
        setup.make().describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    assert "safety" in caught.value.message or "refused" in caught.value.message


def test_a_slow_answer_is_abandoned_at_the_timeout_and_retried_later(setup):
    setup.fake.delay_seconds = 5.0
    started = time.monotonic()
    with pytest.raises(RetryLaterError, match="did not answer within 2 s") as caught:
        setup.make(timeout_seconds=2).describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later(30))
    assert 1.9 < time.monotonic() - started < 3.5
    assert setup.timeout_setting() in caught.value.message


def test_the_deadline_shortens_the_request(setup):
    setup.fake.delay_seconds = 5.0
    started = time.monotonic()
    with pytest.raises(RetryLaterError, match="did not answer within 3 s"):
        setup.make(timeout_seconds=30).describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later(3))
    assert time.monotonic() - started < 4.5


def test_no_time_left_asks_nothing_and_retries_later(setup):
    with pytest.raises(RetryLaterError) as caught:
        setup.make().describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later(1))
    assert caught.value.message == (
        "Not enough time was left in this attempt to ask the caption model; it will be retried."
    )
    assert setup.fake.requests == []


def test_a_request_may_be_given_the_two_second_minimum(setup):
    reply = setup.make(timeout_seconds=2).describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later(30))
    assert '"caption"' in reply.text and len(setup.fake.requests) == 1


def test_an_unreachable_server_is_retried_later(setup):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(RetryLaterError, match="Could not reach"):
        setup.make(base_url=closed).describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())


def test_gemini_without_a_key_waits_without_asking():
    with FakeGemini() as fake:
        with pytest.raises(ProviderNotConfiguredError, match="^Captions are off: .*GEMINI_API_KEY"):
            GeminiProvider(api_key="", model=MODEL, base_url=fake.base_url).describe(
                jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5
            )
        assert fake.requests == []


def test_a_local_server_needs_no_key(fake_openai):
    provider = OpenAICompatibleProvider(base_url=fake_openai.base_url, api_key=None, model=MODEL)
    assert "caption" in provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5).text
    provider.close()


def test_gemini_reads_retry_info_and_the_invalid_key_answer():
    with FakeGemini() as fake:
        fake.respond_with(429, FakeGemini.error_body(429, retry_delay="1.5s"))
        fake.respond_with(429, FakeGemini.error_body(429))
        provider = GeminiProvider(api_key=KEY, model=MODEL, base_url=fake.base_url)
        for expected in (1.5, None):
            with pytest.raises(RetryLaterError) as caught:
                provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
            assert caught.value.retry_after == expected
        provider.close()


@pytest.fixture
def gemini() -> Iterator[tuple[FakeGemini, GeminiProvider]]:
    with FakeGemini() as fake:
        provider = GeminiProvider(api_key=KEY, model=MODEL, base_url=fake.base_url)
        yield fake, provider
        provider.close()


def gemini_refusal(provider: GeminiProvider) -> CaptionProviderError:
    with pytest.raises(CaptionProviderError) as caught:
        provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    return caught.value


@pytest.mark.parametrize(
    ("status", "body", "message", "retry_after"),
    [
        (
            429,
            None,
            "Gemini is rate-limiting requests (429 RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check "
            "quota).); waiting as it asks.",
            0.3,
        ),
        (408, None, "Gemini is unavailable (408 DEADLINE_EXCEEDED: Request timed out.).", None),
        (500, {"error": {"code": 500, "message": "boom"}}, "Gemini is unavailable (500 ERROR: boom).", None),
    ],
    ids=["rate-limited", "timed-out", "no-status"],
)
def test_gemini_s_transient_answers_are_retried_later_saying_what_it_answered(
    gemini, status, body, message, retry_after
):
    fake, provider = gemini
    fake.respond_with(status, body)
    with pytest.raises(RetryLaterError) as caught:
        provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    assert (caught.value.message, caught.value.retry_after) == (message, retry_after)


def test_gemini_unavailable_waits_as_its_retry_after_header_asks(gemini):
    fake, provider = gemini
    fake.respond_with(503, headers={"retry-after": "60"})
    with pytest.raises(RetryLaterError) as caught:
        provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    assert caught.value.retry_after == 60.0 and caught.value.throttled is False


@pytest.mark.parametrize(
    ("status", "setting"),
    [
        (403, "check GEMINI_API_KEY"),
        (401, "check GEMINI_API_KEY"),
        (400, "check GEMINI_API_KEY, GEMINI_MODEL_NAME and the image"),
    ],
)
def test_gemini_s_refusals_name_what_to_check(gemini, status, setting):
    fake, provider = gemini
    body = FakeGemini.error_body(status)
    fake.respond_with(status, body)
    error = body["error"]
    assert gemini_refusal(provider).message == (
        f"Gemini refused the request ({status} {error['status']}: {error['message']}): {setting}"
    )


def test_a_gemini_error_body_that_is_json_but_not_an_object_is_still_read(gemini):
    """As a proxy in front of the API might answer: the SDK then hands over a string or a list as the details."""
    fake, provider = gemini
    fake.respond_with(503, '"The service is overloaded."')
    fake.respond_with(400, '["Bad request", "try again"]')
    with pytest.raises(RetryLaterError) as caught:
        provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    assert caught.value.message == "Gemini is unavailable (503 ERROR: The service is overloaded.)."
    assert gemini_refusal(provider).message == (
        "Gemini refused the request (400 ERROR: ['Bad request', 'try again']): "
        "check GEMINI_API_KEY, GEMINI_MODEL_NAME and the image"
    )


def test_gemini_s_unknown_model_is_named_in_the_refusal(gemini):
    fake, provider = gemini
    fake.models = {"some-other-model"}
    assert gemini_refusal(provider).message == (
        f"Gemini model {MODEL!r} not found (404 NOT_FOUND: models/{MODEL} is not found for API version v1beta, "
        "or is not supported for generateContent.): check GEMINI_MODEL_NAME"
    )


@pytest.mark.parametrize(
    ("message", "details"),
    [
        ("API key not valid. Please pass a valid API key.", []),
        ("Request contains an invalid argument.", [{"@type": "google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]),
    ],
    ids=["by-its-message", "by-its-reason"],
)
def test_gemini_s_invalid_key_answer_is_recognised_by_its_message_or_its_reason(gemini, message, details):
    fake, provider = gemini
    fake.respond_with(
        400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": details}}
    )
    assert gemini_refusal(provider).message.endswith("): check GEMINI_API_KEY")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "The prompt was blocked."}},
            "prompt blocked: SAFETY, The prompt was blocked.; try another image or GEMINI_PROMPT",
        ),
        ({"promptFeedback": {"blockReason": "OTHER"}}, "prompt blocked: OTHER; try another image or GEMINI_PROMPT"),
        ({"candidates": []}, "empty answer; retry later or try another image"),
        (
            FakeGemini.blocked_body("SAFETY"),
            "blocked by its safety filters, finish reason SAFETY; it will not caption this image",
        ),
        (
            FakeGemini.success_body("", finish_reason="MAX_TOKENS"),
            "finish reason MAX_TOKENS; try another image or GEMINI_PROMPT",
        ),
    ],
    ids=["prompt-blocked", "prompt-blocked-bare", "no-candidates", "safety", "max-tokens"],
)
def test_gemini_s_answer_without_a_caption_says_why(gemini, body, reason):
    fake, provider = gemini
    fake.respond_with(200, body)
    assert gemini_refusal(provider).message == f"Gemini returned no caption ({reason})"


def test_gemini_s_answer_without_usage_has_no_token_counts(gemini):
    fake, provider = gemini
    body = FakeGemini.success_body('{"caption": "A cat."}')
    del body["usageMetadata"]
    fake.respond_with(200, body)
    reply = provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ('{"caption": "A cat."}', None, None)


def test_an_unreachable_gemini_is_named_with_the_error(monkeypatch):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(RetryLaterError) as caught:
        GeminiProvider(api_key=KEY, model=MODEL, base_url=closed).describe(
            jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5
        )
    assert caught.value.message.startswith(f"Could not reach {closed} (ConnectError: ")
    assert caught.value.message.endswith("); check the network and GEMINI_BASE_URL if this keeps happening.")


def test_gemini_s_vertex_ai_switch_in_the_environment_does_not_divert_it(gemini, monkeypatch):
    """GOOGLE_GENAI_USE_VERTEXAI would make the SDK call Vertex AI's paths, which a Gemini API key cannot use."""
    fake, provider = gemini
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    assert [request.model for request in fake.requests] == [MODEL]


@pytest.fixture
def openai_server() -> Iterator[tuple[FakeOpenAI, OpenAICompatibleProvider]]:
    with FakeOpenAI() as fake:
        provider = OpenAICompatibleProvider(base_url=fake.base_url, api_key=KEY, model=MODEL)
        yield fake, provider
        provider.close()


def openai_error(provider: OpenAICompatibleProvider, kind: type[Exception]) -> Any:
    with pytest.raises(kind) as caught:
        provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    return caught.value


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (
            429,
            None,
            "is rate-limiting requests (429: Rate limit reached for requests. Please try again in 1s.); "
            "waiting as it asks.",
        ),
        (408, {"error": {"message": "Request timed out."}}, "is unavailable (408: Request timed out.)."),
        (409, {"error": {"message": "Conflict."}}, "is unavailable (409: Conflict.)."),
        (500, {"message": "a flat error body"}, "is unavailable (500: a flat error body)."),
        (502, "<html>Bad gateway</html>", "is unavailable (502: Error code: 502)."),
        (503, '"upstream is down"', "is unavailable (503: Error code: 503)."),
    ],
    ids=["rate-limited", "timed-out", "conflict", "flat-body", "html-body", "json-text-body"],
)
def test_openai_transient_answers_are_retried_later_saying_what_it_answered(openai_server, status, body, says):
    fake, provider = openai_server
    fake.respond_with(status, body)
    error = openai_error(provider, RetryLaterError)
    assert (error.message, error.throttled) == (f"{fake.base_url} {says}", status == 429)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after-ms": "1500", "retry-after": "9"}, 1.5), ({"retry-after": "7"}, 7.0), ({}, None)],
    ids=["milliseconds-first", "seconds", "none"],
)
def test_openai_waits_as_its_retry_after_headers_ask(openai_server, headers, wait):
    fake, provider = openai_server
    fake.respond_with(503, headers=headers)
    assert openai_error(provider, RetryLaterError).retry_after == wait


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (401, "refused the key (401: Incorrect API key provided.): check OPENAI_API_KEY"),
        (403, "refused the key (403: Error.): check OPENAI_API_KEY"),
        (
            404,
            f"has no model {MODEL!r} (404: The model does not exist or you do not have access to it.): "
            "check OPENAI_MODEL (and pull it, for Ollama)",
        ),
        (
            400,
            "refused the request (400: Invalid request.): check OPENAI_MODEL (it must see images) and OPENAI_BASE_URL",
        ),
        (422, "refused the request (422: Error.): check OPENAI_MODEL (it must see images) and OPENAI_BASE_URL"),
    ],
)
def test_openai_refusals_name_what_to_check(openai_server, status, says):
    fake, provider = openai_server
    fake.respond_with(status)
    assert openai_error(provider, CaptionProviderError).message == f"{fake.base_url} {says}"


def test_ollamas_own_sentence_for_a_model_it_lacks_reaches_the_user(openai_server):
    fake, provider = openai_server
    fake.respond_with(404, {"error": f'model "{MODEL}" not found, try pulling it first'})
    assert openai_error(provider, CaptionProviderError).message == (
        f'{fake.base_url} has no model {MODEL!r} (404: model "{MODEL}" not found, try pulling it first): '
        "check OPENAI_MODEL (and pull it, for Ollama)"
    )


@pytest.mark.parametrize(
    ("completion", "message"),
    [
        ({**FakeOpenAI.completion("{}"), "choices": []}, "{server} returned no choices; check OPENAI_MODEL"),
        (
            FakeOpenAI.completion(None, finish_reason="content_filter"),
            "The model refused to caption this image (its content filter stopped the answer); it will not be retried",
        ),
        (
            FakeOpenAI.completion(None, refusal="I can't describe people."),
            "The model refused to caption this image (I can't describe people.); it will not be retried",
        ),
    ],
    ids=["no-choices", "content-filter", "refusal"],
)
def test_openai_answers_without_a_caption_fail_for_good_saying_why(openai_server, completion, message):
    fake, provider = openai_server
    fake.respond_with(200, completion)
    assert openai_error(provider, CaptionProviderError).message == message.format(server=fake.base_url)


def test_openai_answer_without_usage_or_content_is_read_as_it_is(openai_server):
    fake, provider = openai_server
    bare = FakeOpenAI.completion('  {"caption": "A cat."}\n')
    del bare["usage"]
    fake.respond_with(200, bare)
    fake.respond_with(200, FakeOpenAI.completion(None))
    first = provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    second = provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, time.monotonic() + 5)
    assert (first.text, first.input_tokens, first.output_tokens) == ('{"caption": "A cat."}', None, None)
    assert (second.text, second.input_tokens, second.output_tokens) == ("", 310, 42)


def test_openai_timeouts_and_unreachable_servers_are_named(openai_server):
    fake, provider = openai_server
    fake.delay_seconds = 5.0
    slow = OpenAICompatibleProvider(base_url=fake.base_url, api_key=KEY, model=MODEL, timeout_seconds=2)
    try:
        assert openai_error(slow, RetryLaterError).message == (
            f"{fake.base_url} did not answer within 2 s; if this keeps happening, raise OPENAI_TIMEOUT_SECONDS "
            "(and JOB_LEASE_SECONDS for a slow local model)."
        )
    finally:
        slow.close()
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    unreachable = OpenAICompatibleProvider(base_url=closed, api_key=KEY, model=MODEL)
    try:
        assert openai_error(unreachable, RetryLaterError).message == (
            f"Could not reach {closed} (Connection error.); check that it runs and OPENAI_BASE_URL if this keeps "
            "happening."
        )
    finally:
        unreachable.close()


def test_closing_a_provider_that_never_asked_or_twice_is_fine(setup):
    provider = setup.make()
    provider.close()
    provider.describe(jpeg(), PROMPT, CAPTION_SCHEMA, setup.later())
    provider.close()
    provider.close()
    assert len(setup.fake.requests) == 1


# --- the fakes are as strict as the services they stand for ---


@pytest.fixture
def gemini_client() -> Iterator[tuple[FakeGemini, genai.Client]]:
    with FakeGemini() as fake:
        client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=fake.base_url))
        yield fake, client
        client.close()


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_the_fake_gemini_refuses_image_types_gemini_refuses(gemini_client, fmt):
    fake, client = gemini_client
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, fmt)
    part = types.Part.from_bytes(data=buffer.getvalue(), mime_type=f"image/{fmt.lower()}")
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents=[part, PROMPT])
    assert caught.value.code == 400 and "Unsupported MIME type" in caught.value.message


def test_the_fake_gemini_refuses_requests_over_20_mb(gemini_client):
    fake, client = gemini_client
    part = types.Part.from_bytes(data=b"\xff\xd8" + bytes(16 * 1024 * 1024), mime_type="image/jpeg")  # 21+ MB as base64
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents=[part, PROMPT])
    assert caught.value.code == 400 and "payload size exceeds" in caught.value.message


def test_the_fake_openai_refuses_what_openai_refuses():
    import openai

    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)
        tiff = io.BytesIO()
        Image.new("RGB", (8, 8)).save(tiff, "TIFF")
        import base64

        image = {
            "type": "image_url",
            "image_url": {"url": "data:image/tiff;base64," + base64.b64encode(tiff.getvalue()).decode()},
        }
        with pytest.raises(openai.BadRequestError, match="unsupported image"):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [image]}])
        loose = {"type": "object", "properties": {"caption": {"type": "string"}}}
        with pytest.raises(openai.BadRequestError, match="Invalid value: 'USER'"):
            client.chat.completions.create(model=MODEL, messages=[{"role": "USER", "content": "hi"}])
        with pytest.raises(openai.BadRequestError, match="json_schema.name"):
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "hi"}],
                response_format={"type": "json_schema", "json_schema": {"schema": CAPTION_SCHEMA, "strict": True}},
            )
        with pytest.raises(openai.BadRequestError, match="additionalProperties"):
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "hi"}],
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": loose, "strict": True}},
            )
        client.close()
