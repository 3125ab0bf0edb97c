"""What the fake provider servers share: an HTTP server on an ephemeral 127.0.0.1 port that records every
request, answers queued one-off answers first-in first-out, and otherwise asks the fake for its answer."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received: method, path, headers (lower-case names), raw size and parsed JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    size: int = 0


@dataclass
class Answer:
    """What to send back: a status, a JSON body (or raw text), extra headers, and how long to wait first."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


class FakeServer:
    """Base of the fakes: subclasses implement `answer(request)` as the real service would."""

    name = "fake"

    def __init__(self) -> None:
        self._recorded: list[RecordedRequest] = []
        self._queue: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0  # after the first start, the port it got: a restart comes back on the same one

    # --- to override ---

    def answer(self, request: RecordedRequest) -> Answer:
        raise NotImplementedError

    def read(self, request: RecordedRequest) -> Any:
        """How tests see a recorded request (a subclass may wrap it to read it as its service does)."""
        return request

    def complete(self, queued: Answer, request: RecordedRequest) -> Answer:
        """Fill in a queued answer given without a body (the service's usual body for its status)."""
        return queued

    # --- scripting ---

    @property
    def requests(self) -> list[Any]:
        """Every request received so far, oldest first."""
        with self._lock:
            return [self.read(request) for request in self._recorded]

    def respond_with(
        self, status: int = 200, body: Any = None, delay_seconds: float = 0.0, headers: dict[str, str] | None = None
    ) -> None:
        """Queue one answer; body None means the service's usual body for that status."""
        with self._lock:
            self._queue.append(Answer(status, body, headers or {}, delay_seconds))

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- serving ---

    def start(self):
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _make_handler(self))
        self._port = server.server_address[1]
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any delayed answers and close the socket (clients are refused until `start()`)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_answer(self, request: RecordedRequest) -> Answer:
        with self._lock:
            self._recorded.append(request)
            queued = self._queue.popleft() if self._queue else None
        if queued is not None:
            return self.complete(queued, request)
        return self.answer(request)


def _make_handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
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
            answer = fake._next_answer(RecordedRequest(self.command, path, headers, body, len(raw)))
            if answer.delay_seconds and fake._stopping.wait(answer.delay_seconds):
                self.close_connection = True
                return
            payload = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            data = payload.encode("utf-8")
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (e.g. its timeout fired) before we answered
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    return Handler
