"""Request bodies are limited before they are read, by the server `make run` starts (gunicorn): a body that
says it is too large is refused from its headers alone, and a chunked one that never says is cut off once it
passes the limit. Neither is ever held whole."""

from __future__ import annotations

import socket
import time

import pytest

from benchmarks.app_server import AppServer
from benchmarks.loadtest import create_token
from conftest import ADMIN_PASSWORD

MAX_UPLOAD_MB = 1
REQUEST_LIMIT = MAX_UPLOAD_MB * 2**20 * 20 + 2**20  # 20 files of MAX_UPLOAD_MB and the form's own bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("limits") / "data"
    environment = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "MAX_UPLOAD_MB": str(MAX_UPLOAD_MB), "LOG_LEVEL": "WARNING"}
    server = AppServer(data, environment).start()
    yield server, create_token(server.url, ADMIN_PASSWORD)
    assert server.stop() == 0


def headers(server: AppServer, token: str, extra: str) -> bytes:
    return (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {token}\r\n"
        f"Accept: application/json\r\nContent-Type: multipart/form-data; boundary=limit\r\n{extra}\r\n"
    ).encode()


def read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def test_a_body_declared_too_large_is_refused_from_its_headers_without_being_sent(server):
    server, token = server
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(headers(server, token, "Content-Length: 10000000000\r\n"))  # 10 GB announced, none sent

        answer = read_answer(sock)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(server):
    server, token = server
    part = b'--limit\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
    chunk = b"\xff" * 2**20
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(headers(server, token, "Transfer-Encoding: chunked\r\n"))
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        try:
            while sent < 4 * REQUEST_LIMIT:  # far past the limit, unless the server stops reading first
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:  # the server answered and closed the connection: it stopped reading
            pass
        sock.settimeout(10)
        started = time.monotonic()
        answer = read_answer(sock)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 2 * REQUEST_LIMIT, f"{sent} bytes sent before the refusal"
    assert time.monotonic() - started < 10
