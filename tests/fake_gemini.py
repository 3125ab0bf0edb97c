"""A fake Gemini HTTP server on 127.0.0.1 for tests that drive the real `google-genai` SDK.

Point the SDK (or `GEMINI_BASE_URL`) at `fake.base_url`; the fake answers
`POST /v1beta/models/<model>:generateContent` like the Gemini Developer API does.

    with FakeGemini() as fake:
        fake.caption = "A red bicycle."           # default answer: success with this caption
        fake.respond_with(429)                    # queue one-off answers, used first-in first-out
        fake.respond_with(200, FakeGemini.blocked_body("SAFETY"))
        fake.delay_seconds = 2.0                  # make every default answer slow (timeouts)
        fake.retry_delay = "2s"                   # the wait a queued 429 asks for (RetryInfo.retryDelay)
        fake.refuse_fraction = 0.7                # refuse 70 % of default answers with 429 and that wait
        ...                                       # run the code under test
        fake.requests[0].headers["x-goog-api-key"], fake.requests[0].images, fake.requests[0].texts

Queued answers are used one per request; when the queue is empty every request gets the default
success answer. `respond_with(status)` without a body sends Google's error JSON for that status.
google-genai 3.x calls `/v1/...` by default (2.x used `/v1beta/...`); the fake answers both.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_GENERATE_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):generateContent$")

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


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: path, headers (lower-case names) and the parsed JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def model(self) -> str | None:
        """The model named in a generateContent path, else None."""
        match = _GENERATE_PATH.match(self.path)
        return match["model"] if match else None

    @property
    def parts(self) -> list[dict[str, Any]]:
        """Every part of every content in the body, in order."""
        contents = (self.body or {}).get("contents") or []
        return [part for content in contents for part in content.get("parts") or []]

    @property
    def texts(self) -> list[str]:
        """The text parts sent (e.g. the prompt)."""
        return [part["text"] for part in self.parts if "text" in part]

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """The inline data parts sent, as (mime type, decoded bytes)."""
        found = []
        for part in self.parts:
            inline = part.get("inlineData") or part.get("inline_data")
            if inline:
                mime = inline.get("mimeType") or inline.get("mime_type")
                found.append((mime, base64.urlsafe_b64decode(inline["data"] + "==")))
        return found


@dataclass
class _Answer:
    status: int
    body: Any
    delay_seconds: float


@dataclass
class FakeGemini:
    """A scriptable Gemini API on an ephemeral 127.0.0.1 port; use as a context manager or start()/stop()."""

    caption: str = "A small test image."
    delay_seconds: float = 0.0
    retry_delay: str = "0.3s"  # the RetryInfo.retryDelay a 429 carries, as Gemini's quota errors do
    refuse_fraction: float = 0.0  # refuse this share of default answers with 429 (a busy free-tier key)
    seed: int = 0  # of the refusals' random draw, so a run can be repeated
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._queue: deque[_Answer] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to hand the SDK as `HttpOptions(base_url=...)` or GEMINI_BASE_URL."""
        if self._server is None:
            raise RuntimeError("FakeGemini is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def respond_with(self, status: int = 200, body: Any = None, delay_seconds: float = 0.0) -> None:
        """Queue one answer; body None means Google's error JSON (or the success answer for 200)."""
        with self._lock:
            self._queue.append(_Answer(status, body, delay_seconds))

    @staticmethod
    def success_body(text: str, model: str = "gemini-test", finish_reason: str = "STOP") -> dict[str, Any]:
        """A generateContent answer whose first candidate says `text`."""
        return {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": finish_reason,
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 264,
                "candidatesTokenCount": max(1, len(text.split())),
                "totalTokenCount": 264 + max(1, len(text.split())),
                "promptTokensDetails": [{"modality": "IMAGE", "tokenCount": 258}],
            },
            "modelVersion": model,
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

    def start(self) -> FakeGemini:
        """Start serving in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-gemini", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any delayed answers and close the socket."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_answer(self, request: RecordedRequest) -> _Answer:
        with self._lock:
            self.requests.append(request)
            queued = self._queue.popleft() if self._queue else None
        model = request.model
        if queued is not None:
            if queued.body is None:
                queued.body = (
                    self.success_body(self.caption, model or "gemini-test")
                    if queued.status < 400
                    else self.error_body(queued.status, retry_delay=self.retry_delay)
                )
            return queued
        if model is None:
            return _Answer(404, self.error_body(404, f"Unknown path {request.path}"), 0.0)
        with self._lock:
            refused = self._random.random() < self.refuse_fraction
        if refused:
            return _Answer(429, self.error_body(429, retry_delay=self.retry_delay), 0.0)
        return _Answer(200, self.success_body(self.caption, model), self.delay_seconds)


def _make_handler(fake: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            path = self.path.split("?", 1)[0]
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = fake._next_answer(RecordedRequest(self.command, path, headers, body))
            if answer.delay_seconds and fake._stopping.wait(answer.delay_seconds):
                self.close_connection = True
                return
            payload = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            data = payload.encode("utf-8")
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (e.g. its timeout fired) before we answered
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    return Handler
