"""A fake Gemini API on 127.0.0.1 for tests that drive the real `google-genai` SDK, as strict as the real one.

Point the SDK (or `GEMINI_BASE_URL`) at `fake.base_url`; the fake answers
`POST /v1beta/models/<model>:generateContent` (and `/v1/...`, which google-genai 3.x calls) like the Gemini
Developer API does, refusing what it refuses:

- inline data only of the types Gemini takes (image/png, jpeg, webp, heic, heif): anything else is a
  400 "Unsupported MIME type"; undecodable base64 is a 400 too;
- a request body over 20 MB: 400 "Request payload size exceeds the limit";
- no key: 403; a key other than `fake.api_key` (when set): 400 API_KEY_INVALID; a model not in
  `fake.models` (when set): 404;
- a `responseMimeType` other than text/plain, application/json or text/x.enum: 400.

With `responseMimeType: application/json` and a schema, the default answer is the JSON of `fake.fields()`
(caption, alt_text, tags, text_in_image); without one, the bare caption text.

    with FakeGemini() as fake:
        fake.caption = "A red bicycle."           # the default answer's caption
        fake.respond_with(429)                    # queue one-off answers, used first-in first-out
        fake.respond_with(200, FakeGemini.success_body("not json"))
        fake.respond_with(200, FakeGemini.blocked_body("SAFETY"))
        fake.delay_seconds = 2.0                  # make every default answer slow (timeouts)
        fake.retry_delay = "2s"                   # the wait a 429 asks for (RetryInfo.retryDelay)
        fake.refuse_fraction = 0.7                # refuse 70 % of default answers with 429 and that wait
        fake.unavailable = True                   # answer everything 503 UNAVAILABLE (an outage)
        fake.stop(); fake.start()                 # connection refused meanwhile; back on the same port
        fake.requests[0].headers["x-goog-api-key"], fake.requests[0].images, fake.requests[0].texts
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from typing import Any

from tests.fake_http import Answer, FakeServer, RecordedRequest

_GENERATE_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):generateContent$")
ACCEPTED_MIME_TYPES = {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
MAX_REQUEST_BYTES = 20 * 1024 * 1024
_RESPONSE_MIME_TYPES = {"text/plain", "application/json", "text/x.enum"}

# Google's canonical status names for the HTTP codes the API uses.
_STATUS_NAMES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "Method doesn't allow unregistered callers. Please use an API key."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    408: ("DEADLINE_EXCEEDED", "Request timed out."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred."),
    502: ("UNAVAILABLE", "Bad gateway."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline exceeded."),
}


class GeminiRequest:
    """A recorded generateContent request, read as Gemini reads it."""

    def __init__(self, recorded: RecordedRequest):
        self.recorded = recorded

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorded, name)

    @property
    def model(self) -> str | None:
        match = _GENERATE_PATH.match(self.recorded.path)
        return match["model"] if match else None

    @property
    def parts(self) -> list[dict[str, Any]]:
        body = self.recorded.body if isinstance(self.recorded.body, dict) else {}
        return [part for content in body.get("contents") or [] for part in content.get("parts") or []]

    @property
    def texts(self) -> list[str]:
        return [part["text"] for part in self.parts if "text" in part]

    @property
    def inline_data(self) -> list[dict[str, str]]:
        return [part.get("inlineData") or part.get("inline_data") for part in self.parts if _inline(part)]

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """The inline data parts sent, as (mime type, decoded bytes)."""
        return [
            (inline.get("mimeType") or inline.get("mime_type"), base64.urlsafe_b64decode(inline["data"] + "=="))
            for inline in self.inline_data
        ]

    @property
    def generation_config(self) -> dict[str, Any]:
        body = self.recorded.body if isinstance(self.recorded.body, dict) else {}
        return body.get("generationConfig") or body.get("generation_config") or {}


def _inline(part: dict) -> bool:
    return bool(part.get("inlineData") or part.get("inline_data"))


class FakeGemini(FakeServer):
    """A scriptable, strict Gemini API; use as a context manager or start()/stop()."""

    name = "fake-gemini"

    def __init__(
        self,
        caption: str = "A small test image.",
        *,
        retry_delay: str = "0.3s",
        refuse_fraction: float = 0.0,
        seed: int = 0,
    ):
        super().__init__()
        self.caption = caption
        self.alt_text = "A small test image"
        self.tags = ["test", "image"]
        self.text_in_image = ""
        self.delay_seconds = 0.0
        self.retry_delay = retry_delay  # the RetryInfo.retryDelay a 429 carries, as Gemini's quota errors do
        self.refuse_fraction = refuse_fraction  # refuse this share of default answers with 429 (a busy free key)
        self.api_key: str | None = None  # when set, any other key is refused as Gemini refuses it
        self.models: set[str] | None = None  # when set, other model names are 404
        self.unavailable = False  # when set, every request is a 503, as during an outage of the service
        self._random = random.Random(seed)

    def read(self, request: RecordedRequest) -> GeminiRequest:
        return GeminiRequest(request)

    def fields(self) -> dict[str, Any]:
        """The structured answer the default response carries."""
        return {
            "caption": self.caption,
            "alt_text": self.alt_text,
            "tags": self.tags,
            "text_in_image": self.text_in_image,
        }

    # --- answering as Gemini does ---

    def answer(self, recorded: RecordedRequest) -> Answer:
        if self.unavailable:
            return Answer(503, self.error_body(503))
        request = GeminiRequest(recorded)
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        with self._lock:
            refused = self._random.random() < self.refuse_fraction
        if refused:
            return Answer(429, self.error_body(429, retry_delay=self.retry_delay))
        structured = request.generation_config.get("responseMimeType") == "application/json"
        text = json.dumps(self.fields()) if structured else self.caption
        return Answer(200, self.success_body(text, request.model), delay_seconds=self.delay_seconds)

    def complete(self, queued: Answer, recorded: RecordedRequest) -> Answer:
        if queued.body is None:
            request = GeminiRequest(recorded)
            if queued.status < 400:
                structured = request.generation_config.get("responseMimeType") == "application/json"
                queued.body = self.success_body(
                    json.dumps(self.fields()) if structured else self.caption, request.model
                )
            else:
                queued.body = self.error_body(queued.status, retry_delay=self.retry_delay)
        return queued

    def _refusal(self, request: GeminiRequest) -> Answer | None:
        """The error Gemini gives this request, or None if it would answer it."""
        if request.model is None:
            return Answer(404, self.error_body(404, f"Unknown path {request.path}"))
        if request.size > MAX_REQUEST_BYTES:
            return Answer(
                400, self.error_body(400, f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.")
            )
        key = request.headers.get("x-goog-api-key")
        if not key:
            return Answer(403, self.error_body(403))
        if self.api_key is not None and key != self.api_key:
            body = self.error_body(400, "API key not valid. Please pass a valid API key.")
            body["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ]
            return Answer(400, body)
        if self.models is not None and request.model not in self.models:
            message = (
                f"models/{request.model} is not found for API version v1beta, or is not supported for generateContent."
            )
            return Answer(404, self.error_body(404, message))
        for inline in request.inline_data:
            mime_type = inline.get("mimeType") or inline.get("mime_type")
            if mime_type not in ACCEPTED_MIME_TYPES:
                return Answer(400, self.error_body(400, f"Unsupported MIME type: {mime_type}"))
            try:
                base64.b64decode(inline.get("data", ""), altchars=b"-_", validate=False)
            except (binascii.Error, ValueError):
                return Answer(
                    400,
                    self.error_body(400, "Invalid value at 'inline_data.data' (TYPE_BYTES), Base64 decoding failed"),
                )
        response_type = request.generation_config.get("responseMimeType")
        if response_type is not None and response_type not in _RESPONSE_MIME_TYPES:
            return Answer(400, self.error_body(400, f"response_mime_type {response_type!r} is not supported."))
        return None

    # --- bodies ---

    @staticmethod
    def success_body(text: str, model: str | None = "gemini-test", finish_reason: str = "STOP") -> dict[str, Any]:
        """A generateContent answer whose first candidate says `text`."""
        words = max(1, len(text.split()))
        return {
            "candidates": [
                {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish_reason, "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": 264,
                "candidatesTokenCount": words,
                "totalTokenCount": 264 + words,
                "promptTokensDetails": [{"modality": "IMAGE", "tokenCount": 258}],
            },
            "modelVersion": model or "gemini-test",
            "responseId": "fake-response-id",
        }

    @staticmethod
    def blocked_body(finish_reason: str = "SAFETY") -> dict[str, Any]:
        """A 200 answer with no caption: a candidate stopped for `finish_reason`, without content.

        Use a reason the SDK knows (types.FinishReason): it warns on unknown ones, and tests make warnings errors.
        """
        return {
            "candidates": [{"finishReason": finish_reason, "index": 0}],
            "usageMetadata": {"promptTokenCount": 264, "totalTokenCount": 264},
            "modelVersion": "gemini-test",
        }

    @staticmethod
    def error_body(status: int, message: str | None = None, retry_delay: str | None = None) -> dict[str, Any]:
        """Google's error JSON for an HTTP status; a 429 with `retry_delay` names the wait as Gemini does."""
        name, default_message = _STATUS_NAMES.get(status, ("UNKNOWN", "Unknown error."))
        error: dict[str, Any] = {"code": status, "message": message or default_message, "status": name}
        if status == 429 and retry_delay is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
            ]
        return {"error": error}
