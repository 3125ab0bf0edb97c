"""A fake OpenAI-compatible chat completions server on 127.0.0.1 for tests that drive the real `openai` SDK,
as strict as OpenAI's own API.

Point the SDK (or `OPENAI_BASE_URL`) at `fake.base_url` (it ends in /v1); `POST /v1/chat/completions` is
answered as OpenAI answers it, refusing what OpenAI refuses:

- images only as PNG, JPEG, WEBP or non-animated GIF, each at most 20 MB, else 400 invalid_image_format;
- a `json_schema` response format whose schema strict mode cannot take (an object without
  `additionalProperties: false`, or a property that is not required): 400;
- a key other than `fake.api_key` (when set): 401 invalid_api_key; a model not in `fake.models` (when set):
  404 model_not_found;
- a message without one of OpenAI's roles, or a `json_schema` response format without its `name`: 400.

With a `json_schema` response format, the default answer's content is the JSON of `fake.fields()`.

    with FakeOpenAI() as fake:
        fake.respond_with(429, headers={"retry-after": "2"})
        fake.respond_with(200, FakeOpenAI.completion("not json"))
        fake.respond_with(200, FakeOpenAI.completion(None, refusal="I can't help with that."))
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tests.fake_http import Answer, FakeServer, RecordedRequest

ACCEPTED_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_IMAGE_BYTES = 20 * 1024 * 1024

_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class ChatRequest:
    """A recorded chat completions request, read as OpenAI reads it."""

    def __init__(self, recorded: RecordedRequest):
        self.recorded = recorded

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorded, name)

    @property
    def body(self) -> dict[str, Any]:
        return self.recorded.body if isinstance(self.recorded.body, dict) else {}

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def parts(self) -> list[dict[str, Any]]:
        found = []
        for message in self.body.get("messages") or []:
            content = message.get("content")
            found.extend(content if isinstance(content, list) else [{"type": "text", "text": content}])
        return found

    @property
    def texts(self) -> list[str]:
        return [part.get("text", "") for part in self.parts if part.get("type") == "text"]

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """The data-URL images sent, as (mime type, decoded bytes)."""
        found = []
        for part in self.parts:
            if part.get("type") == "image_url":
                header, _, data = part["image_url"]["url"].partition(",")
                found.append((header.removeprefix("data:").removesuffix(";base64"), base64.b64decode(data)))
        return found


class FakeOpenAI(FakeServer):
    """A scriptable, strict OpenAI-compatible server; use as a context manager or start()/stop()."""

    name = "fake-openai"

    def __init__(self, caption: str = "A small test image."):
        super().__init__()
        self.caption = caption
        self.alt_text = "A small test image"
        self.tags = ["test", "image"]
        self.text_in_image = ""
        self.delay_seconds = 0.0
        self.api_key: str | None = None
        self.models: set[str] | None = None

    @property
    def base_url(self) -> str:
        return super().base_url + "/v1"

    def read(self, request: RecordedRequest) -> ChatRequest:
        return ChatRequest(request)

    def fields(self) -> dict[str, Any]:
        return {
            "caption": self.caption,
            "alt_text": self.alt_text,
            "tags": self.tags,
            "text_in_image": self.text_in_image,
        }

    def answer(self, recorded: RecordedRequest) -> Answer:
        request = ChatRequest(recorded)
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        structured = (request.body.get("response_format") or {}).get("type") == "json_schema"
        content = json.dumps(self.fields()) if structured else self.caption
        return Answer(200, self.completion(content, request.model), delay_seconds=self.delay_seconds)

    def complete(self, queued: Answer, recorded: RecordedRequest) -> Answer:
        if queued.body is None:
            model = ChatRequest(recorded).model
            queued.body = (
                self.completion(json.dumps(self.fields()), model)
                if queued.status < 400
                else self.error_body(queued.status)
            )
        return queued

    def _refusal(self, request: ChatRequest) -> Answer | None:
        if request.path != "/v1/chat/completions":
            return Answer(404, self.error_body(404, f"Invalid URL (POST {request.path})"))
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and key != self.api_key:
            return Answer(401, self.error_body(401, f"Incorrect API key provided: {key[:3]}***."))
        if self.models is not None and request.model not in self.models:
            message = f"The model `{request.model}` does not exist or you do not have access to it."
            return Answer(404, self.error_body(404, message))
        for message in request.body.get("messages") or []:
            if message.get("role") not in ROLES:
                supported = ", ".join(f"'{role}'" for role in ROLES)
                problem = f"Invalid value: {message.get('role')!r}. Supported values are: {supported}."
                return Answer(400, self.error_body(400, problem, code="invalid_value"))
        for part in request.parts:
            if part.get("type") == "image_url":
                problem = _image_problem(part["image_url"].get("url", ""))
                if problem:
                    return Answer(400, self.error_body(400, problem, code="invalid_image_format"))
        response_format = request.body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            if "name" not in response_format.get("json_schema", {}):
                problem = "Missing required parameter: 'response_format.json_schema.name'."
                return Answer(400, self.error_body(400, problem, code="missing_required_parameter"))
            problem = _strict_schema_problem(response_format.get("json_schema", {}).get("schema", {}))
            if problem:
                return Answer(400, self.error_body(400, f"Invalid schema for response_format: {problem}"))
        return None

    @staticmethod
    def completion(
        content: str | None, model: str | None = "gpt-test", refusal: str | None = None, finish_reason: str = "stop"
    ) -> dict[str, Any]:
        """A chat completion whose one choice says `content` (or refuses)."""
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_790_000_000,
            "model": model or "gpt-test",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 310, "completion_tokens": 42, "total_tokens": 352},
        }

    @staticmethod
    def error_body(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
        """OpenAI's error JSON for an HTTP status."""
        kind, default_code, default_message = _ERRORS.get(status, ("api_error", None, "Error."))
        return {
            "error": {"message": message or default_message, "type": kind, "param": None, "code": code or default_code}
        }


def _image_problem(url: str) -> str | None:
    """Why OpenAI would refuse this image URL, or None."""
    if not url.startswith("data:"):
        return None  # a web URL: OpenAI would fetch it; these tests send none
    header, _, data = url.partition(",")
    mime_type = header.removeprefix("data:").removesuffix(";base64")
    if mime_type not in ACCEPTED_IMAGE_TYPES:
        return (
            "You uploaded an unsupported image. Please make sure your image has of one the following formats: "
            "['png', 'jpeg', 'gif', 'webp']."
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "Invalid base64 image_url."
    if len(raw) > MAX_IMAGE_BYTES:
        return "Image too large: images must be at most 20 MB."
    return None


def _strict_schema_problem(schema: dict[str, Any], path: str = "schema") -> str | None:
    """What strict structured outputs refuse in a schema: open objects, and properties that are optional."""
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            return f"In context={path}, 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties", {})
        missing = sorted(set(properties) - set(schema.get("required", [])))
        if missing:
            return f"In context={path}, 'required' is required to include every key in properties. Missing {missing}."
        for name, child in properties.items():
            problem = _strict_schema_problem(child, f"{path}.{name}")
            if problem:
                return problem
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return _strict_schema_problem(schema["items"], f"{path}.items")
    return None
