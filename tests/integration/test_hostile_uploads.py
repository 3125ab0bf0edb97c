"""Uploads under hostile input, property-based: damaged and mutated real images, polyglots, bombs, odd file
names and content types, broken multipart bodies (through the test client's raw input and a real socket).

Every answer is a 202 or a 4xx with a JSON error, never a 5xx; a refusal leaves no row and no object behind;
nothing is ever written outside the storage folder, and objects are named by us, never by the client.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
import threading
import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import assume, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from werkzeug.serving import make_server

from annotation_core.schema import images as images_table
from annotation_core.settings import Settings
from annotation_core.uploads import clean_filename
from conftest import ADMIN_PASSWORD, FAST_HASHING
from tests import images
from tests.hostile import content_types, hostile_bytes, hostile_filenames, multipart_bodies, pixel_bomb, seed_images

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)

OBJECT_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|gif|webp|heic|heif|avif)")
SQLITE_FILES = re.compile(r"annotations\.db(-wal|-shm|-journal)?")


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Small limits, so that bombs and oversized files are cheap to make: 1 MiB, 4 megapixels."""
    return Settings(
        data_dir=str(tmp_path / "data"),
        max_upload_mb=1,
        max_image_pixels=4_000_000,
        uploads_per_hour=100_000,
        admin_password=ADMIN_PASSWORD,
        **FAST_HASHING,
    )


@pytest.fixture
def bearer(services) -> dict[str, str]:
    """Headers of an API client acting as the first admin (no session, no CSRF token)."""
    secret = services.tokens.create(services.users.get_by_name("admin").id, "fuzz").secret
    return {"Accept": "application/json", "Authorization": f"Bearer {secret}"}


class Storage:
    """What the app has stored, to compare before and after a request."""

    def __init__(self, services, tmp_path: Path):
        self.services, self.tmp_path = services, tmp_path
        self.data_dir = Path(services.settings.data_dir)

    def rows(self) -> int:
        with self.services.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(images_table)).scalar_one()

    def originals(self) -> set[Path]:
        return {path for path in self.services.originals.root.rglob("*") if path.is_file()}

    def assert_contained(self) -> None:
        """Every file is in the data folder (or is the test's SQLite file), every original named by us."""
        for path in self.tmp_path.rglob("*"):
            if path.is_file() and not path.is_relative_to(self.data_dir):
                assert SQLITE_FILES.fullmatch(path.name), f"a file outside the storage folder: {path}"
        for path in self.originals():
            assert OBJECT_NAME.fullmatch(path.name), f"an object not named by us: {path}"


@pytest.fixture
def storage(services, tmp_path) -> Storage:
    return Storage(services, tmp_path)


def check_answer(storage: Storage, response_status: int, document, before: tuple[int, set[Path]]) -> None:
    """The invariants every upload answer keeps."""
    assert response_status == 202 or 400 <= response_status < 500, (response_status, document)
    if response_status == 202:
        for image in document["images"]:
            record = storage.services.repository.get(image["id"])
            assert storage.services.originals.exists(record.original_key)
            assert record.filename == clean_filename(record.filename), "the name is kept as clean data"
    else:
        assert isinstance(document, dict) and isinstance(document.get("error"), str) and document["error"]
        assert (storage.rows(), storage.originals()) == before, "a refusal left a row or an object behind"
    storage.assert_contained()


BOUNDARY = "----hostile7MA4YWxkTrZu0gW"


def browser_encoded(filename: str) -> str:
    """The file name as a browser writes it into the part header (WHATWG: `"`, CR and LF percent-encoded)."""
    return filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart(data: bytes, filename: str, content_type: str | None) -> tuple[str, bytes]:
    """One file part named `file`, encoded as a browser does (werkzeug's encoder leaves quotes as they are)."""
    header = f'Content-Disposition: form-data; name="file"; filename="{browser_encoded(filename)}"\r\n'
    if content_type is not None:
        header += f"Content-Type: {content_type}\r\n"
    body = f"--{BOUNDARY}\r\n{header}\r\n".encode("utf-8", "surrogatepass") + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return f"multipart/form-data; boundary={BOUNDARY}", body


UPLOAD_EXAMPLES = 150


def test_hostile_bytes_names_and_types_are_refused_cleanly_or_stored_safely(app, bearer, storage):
    client = app.test_client()

    @examples(max_examples=UPLOAD_EXAMPLES)
    @given(data=hostile_bytes(), filename=hostile_filenames(), content_type=content_types())
    def check(data, filename, content_type):
        before = storage.rows(), storage.originals()
        header, body = multipart(data, filename, content_type)
        response = client.post("/upload", data=body, headers=bearer, content_type=header)
        check_answer(storage, response.status_code, response.get_json(silent=True), before)
        if response.status_code == 202:  # a polyglot that is a valid image is served as that image, never sniffed
            record = storage.services.repository.get(response.get_json()["images"][0]["id"])
            with client.get(storage.services.originals.url(record.original_key), headers=bearer) as served:
                assert served.mimetype.startswith("image/") and served.headers["X-Content-Type-Options"] == "nosniff"

    check()


def test_broken_multipart_bodies_through_raw_input_are_refused_cleanly(app, bearer, storage):
    client = app.test_client()

    @examples(max_examples=UPLOAD_EXAMPLES)
    @given(multipart_bodies())
    def check(request):
        header, body = request
        before = storage.rows(), storage.originals()
        headers = {**bearer, "Content-Type": header} if header else bearer
        response = client.post("/upload", input_stream=io.BytesIO(body), content_length=len(body), headers=headers)
        check_answer(storage, response.status_code, response.get_json(silent=True), before)

    check()


@pytest.mark.parametrize(
    "part",
    [
        b'Content-Disposition: form-data; name="file"; filename=""\r\n\r\n',
        b'Content-Disposition: form-data; name="file"; filename="\x00"\r\n\r\n',
    ],
    ids=["empty-filename", "nul-filename"],
)
def test_a_file_part_without_a_usable_name_is_still_checked_and_kept_as_untitled(app, bearer, services, part):
    body = b"--XyZ\r\n" + part + images.jpeg(color="teal") + b"\r\n--XyZ--\r\n"
    headers = {**bearer, "Content-Type": "multipart/form-data; boundary=XyZ"}
    response = app.test_client().post("/upload", data=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    assert services.repository.get(response.get_json()["images"][0]["id"]).filename == "untitled"


@pytest.mark.parametrize(
    "part",
    [b'name="file"\r\n\r\nnot a file', b'name="file"\r\nContent-Type: image/jpeg\r\n\r\n' + images.jpeg()],
    ids=["text", "bytes-without-filename"],
)
def test_a_part_without_a_filename_where_the_file_should_be_is_refused_saying_so(app, bearer, storage, part):
    body = b"--XyZ\r\nContent-Disposition: form-data; " + part + b"\r\n--XyZ--\r\n"
    headers = {**bearer, "Content-Type": "multipart/form-data; boundary=XyZ"}
    response = app.test_client().post("/upload", data=body, headers=headers)
    assert response.status_code == 400
    assert "without a file name" in response.get_json()["error"]
    assert storage.rows() == 0


def test_a_real_decompression_bomb_is_refused_by_its_header(app, bearer, storage):
    before = storage.rows(), storage.originals()
    header, body = multipart(pixel_bomb(), "bomb.png", "image/png")
    response = app.test_client().post("/upload", data=body, headers=bearer, content_type=header)
    assert response.status_code == 413 and "megapixels" in response.get_json()["error"]
    assert (storage.rows(), storage.originals()) == before


@pytest.mark.parametrize("fmt", sorted(seed_images()))
def test_every_format_truncated_by_half_is_a_400_naming_the_damage(app, bearer, fmt):
    # An animated GIF cut in half still holds a whole first frame, which is all we read: cut a still one.
    data = images.image_bytes("GIF", (64, 48)) if fmt == "GIF" else seed_images()[fmt]
    header, body = multipart(data[: len(data) // 2], f"half.{fmt.lower()}", None)
    response = app.test_client().post("/upload", data=body, headers=bearer, content_type=header)
    assert response.status_code == 400
    assert "damaged or incomplete" in response.get_json()["error"]


@pytest.fixture
def live(app):
    """The app on a real threaded HTTP server on 127.0.0.1."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def raw_exchange(port: int, request: bytes, *, shut_write: bool = True) -> tuple[int, bytes]:
    """Send bytes as they are through a socket; return the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        if shut_write:
            conn.shutdown(socket.SHUT_WR)  # the body ends here, whatever Content-Length said
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def raw_request(headers: dict[str, str], body: bytes) -> bytes:
    lines = ["POST /upload HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_broken_multipart_bodies_through_a_real_socket_are_refused_cleanly(live, bearer, storage):
    @examples(max_examples=40)
    @given(multipart_bodies(), st.sampled_from(["exact", "short", "long"]))
    def check(request, length):
        header, body = request
        claimed = {"exact": len(body), "short": max(0, len(body) - 7), "long": len(body) + 100}[length]
        before = storage.rows(), storage.originals()
        status, _answer = raw_exchange(
            live, raw_request({**bearer, "Content-Type": header, "Content-Length": str(claimed)}, body)
        )
        assert status == 202 or 400 <= status < 500, status
        if status != 202:
            assert (storage.rows(), storage.originals()) == before
        storage.assert_contained()

    check()


def test_an_upload_declaring_more_than_the_limit_is_refused_before_its_body_is_read(live, bearer):
    connection = http.client.HTTPConnection("127.0.0.1", live, timeout=10)
    headers = {**bearer, "Content-Type": "multipart/form-data; boundary=XyZ", "Content-Length": str(2**40)}
    connection.putrequest("POST", "/upload")
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders(b"--XyZ\r\n")  # a terabyte announced, a few bytes sent: the answer must not wait
    response = connection.getresponse()
    assert response.status == 413
    connection.close()


def test_file_names_round_trip_as_clean_text(app, bearer, services):
    """Whatever the name, the stored one has no path, no control or direction characters, at most 255 long."""
    client = app.test_client()
    counter = iter(range(1, 10**6))

    @examples(max_examples=60)
    @given(hostile_filenames())
    def check(filename):
        sent = browser_encoded(filename)
        assume(not re.search(r"(^|[^\\])(\\\\)*\\$", sent))  # a last `\"` escapes the closing quote: no name left
        received = re.sub(r"\\(.)", r"\1", sent).replace("%22", '"')  # werkzeug reads the header back so
        colour = next(counter)
        pixel = images.image_bytes("PNG", (8, 8), color=(colour % 256, colour // 256 % 256, 7))
        header, body = multipart(pixel, filename, None)
        response = client.post("/upload", data=body, headers=bearer, content_type=header)
        assert response.status_code == 202, response.get_json()
        stored = client.get(response.get_json()["images"][0]["status_url"], headers=bearer).get_json()["filename"]
        assert stored == clean_filename(received) and 0 < len(stored) <= 255
        assert not any(unicodedata.category(char) == "Cc" or char in "/\\\u202e\u202d" for char in stored)

    check()
