"""Object storage: the local-folder bucket on disk, and the S3 adapter against moto (in-process and over HTTP)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from annotation_core.errors import StorageError
from annotation_core.storage import IMMUTABLE, LocalFolderStore, S3Store
from tests import images

JPEG = images.jpeg((32, 24))
KEY = "uploads/0123456789abcdef0123456789abcdef.jpg"


# --- local folder ---


@pytest.fixture
def folder(tmp_path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "images", "images", "/media/images/")


def files_under(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_local_save_load_exists_delete(folder):
    assert not folder.exists(KEY)
    folder.save(KEY, JPEG, "image/jpeg")
    assert folder.exists(KEY)
    assert folder.load(KEY) == JPEG
    assert (folder.root / "uploads" / "0123456789abcdef0123456789abcdef.jpg").read_bytes() == JPEG
    folder.save(KEY, b"replaced", "image/jpeg")
    assert folder.load(KEY) == b"replaced"
    folder.delete(KEY)
    assert not folder.exists(KEY)
    folder.delete(KEY)  # deleting a missing object is not an error, as on S3


def test_local_url_joins_prefix_and_key(folder):
    assert folder.url(KEY) == f"/media/images/{KEY}"


def test_local_atomic_write_leaves_no_temporary_files(folder):
    for n in range(3):
        folder.save(f"uploads/{n}.jpg", JPEG, "image/jpeg")
    folder.save("uploads/0.jpg", b"again", "image/jpeg")
    assert files_under(folder.root) == ["uploads/0.jpg", "uploads/1.jpg", "uploads/2.jpg"]


def test_half_written_objects_of_dead_writers_are_removed_and_those_of_living_ones_kept(folder):
    import os
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    folder.save(KEY, JPEG, "image/jpeg")
    (folder.root / "uploads" / f".incoming-{dead}-x1y2").write_bytes(JPEG[:100])  # killed mid-write
    (folder.root / "uploads" / f".incoming-{os.getpid()}-a3b4").write_bytes(JPEG[:100])  # still writing

    assert folder.remove_abandoned_writes() == 1

    assert files_under(folder.root) == [f"uploads/.incoming-{os.getpid()}-a3b4", KEY]


def test_an_object_is_written_beside_its_key_under_the_writers_pid_then_renamed(folder, monkeypatch):
    import os

    seen_while_writing = []
    real_replace = os.replace

    def replace(source, target):  # what a reader, or a sweep, would find at the moment of the rename
        seen_while_writing.extend(files_under(folder.root))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    folder.save(KEY, JPEG, "image/jpeg")

    (temporary,) = seen_while_writing
    folder_name, name = temporary.split("/")
    assert folder_name == "uploads" and name.startswith(f".incoming-{os.getpid()}-")
    assert files_under(folder.root) == [KEY]


def test_every_abandoned_write_is_counted(folder):
    for writer in ("999999999", "not-a-pid"):  # no such process; a name no writer of ours makes
        folder.save(f"uploads/.incoming-{writer}-x1y2", JPEG[:100], "image/jpeg")
    assert folder.remove_abandoned_writes() == 2
    assert files_under(folder.root) == []


def test_local_failed_write_raises_storage_error_and_leaves_nothing(folder):
    folder.root.mkdir(parents=True)
    (folder.root / "uploads").write_bytes(b"a file where a folder should be")
    with pytest.raises(StorageError, match="uploads/x.jpg"):
        folder.save("uploads/x.jpg", JPEG, "image/jpeg")
    assert files_under(folder.root) == ["uploads"]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape.jpg",
        "uploads/../../escape.jpg",
        "uploads/..",
        "./uploads/x.jpg",
        "uploads/./x.jpg",
        "uploads//x.jpg",
        "uploads/",
        "uploads/x\x00.jpg",
        "/etc/passwd",
        "/uploads/x.jpg",
        "uploads\\x.jpg",
        "..\\..\\escape.jpg",
        "C:\\Windows\\x.jpg",
    ],
)
def test_local_refuses_keys_that_could_escape_the_root(folder, tmp_path, key):
    for operation in (
        lambda: folder.save(key, JPEG, "image/jpeg"),
        lambda: folder.load(key),
        lambda: folder.exists(key),
        lambda: folder.delete(key),
    ):
        with pytest.raises(StorageError, match="Refused object key"):
            operation()
    assert files_under(tmp_path) == []


def test_local_load_of_a_missing_key_raises_storage_error(folder):
    with pytest.raises(StorageError, match="missing") as caught:
        folder.load("uploads/missing.jpg")
    assert caught.value.http_status == 503
    assert "upload the image again" in caught.value.message


# --- S3 against moto ---

BUCKET = "image-annotation-originals-test"


@pytest.fixture
def s3(aws_env) -> Iterator:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def store(s3) -> S3Store:
    return S3Store(BUCKET, s3)


def test_s3_save_sets_content_type_and_load_returns_the_bytes(store, s3):
    store.save(KEY, JPEG, "image/jpeg")
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ContentType"] == "image/jpeg"
    assert head["ContentLength"] == len(JPEG)
    assert store.load(KEY) == JPEG


def test_s3_exists_and_delete(store):
    assert store.exists(KEY) is False
    store.save(KEY, JPEG, "image/jpeg")
    assert store.exists(KEY) is True
    store.delete(KEY)
    assert store.exists(KEY) is False
    store.delete(KEY)  # idempotent


def test_s3_load_of_a_missing_key_raises_storage_error(store):
    with pytest.raises(StorageError, match="missing") as caught:
        store.load("uploads/missing.jpg")
    assert BUCKET in caught.value.message and "upload the image again" in caught.value.message


def test_s3_errors_become_storage_errors(s3):
    store = S3Store("no-such-bucket", s3)
    with pytest.raises(StorageError, match="no-such-bucket"):
        store.save(KEY, JPEG, "image/jpeg")
    with pytest.raises(StorageError, match="no-such-bucket"):
        store.load(KEY)
    with pytest.raises(StorageError) as caught:
        store.delete(KEY)
    assert caught.value.message.startswith(f"Could not delete {KEY} from s3://no-such-bucket: ")
    assert "NoSuchBucket" in caught.value.message


def test_s3_a_check_that_is_refused_is_an_error_not_a_missing_object(store, s3):
    from botocore.stub import Stubber

    with Stubber(s3) as stubbed:  # S3 answers 403 to a HEAD the role may not make
        stubbed.add_client_error("head_object", service_error_code="403", http_status_code=403)
        with pytest.raises(StorageError) as caught:
            store.exists(KEY)
    assert caught.value.message.startswith(f"Could not check {KEY} in s3://{BUCKET}: ")
    assert "403" in caught.value.message


def test_s3_url_is_a_sigv4_presigned_get_for_the_key(s3):
    store = S3Store(BUCKET)  # the client production makes for itself
    store.save(KEY, JPEG, "image/jpeg")
    url = store.url(KEY)
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.path.endswith(f"/{KEY}")
    assert BUCKET in parts.netloc + parts.path
    query = parse_qs(parts.query)
    assert "X-Amz-Signature" in query
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert "/us-east-1/s3/aws4_request" in query["X-Amz-Credential"][0]


def test_s3_links_stay_the_same_for_a_while_so_browsers_can_cache_the_image(s3, monkeypatch):
    import time

    signed = []
    s3.meta.events.register("before-sign.s3.GetObject", lambda **_: signed.append(1))
    store = S3Store(BUCKET, s3)
    monkeypatch.setattr(time, "time", lambda: 1_800_000_100.0)
    first = store.url(KEY)
    monkeypatch.setattr(time, "time", lambda: 1_800_002_000.0)  # 31 minutes later, same 50-minute window
    assert store.url(KEY) == first
    assert len(signed) == 1
    monkeypatch.setattr(time, "time", lambda: 1_800_003_100.0)  # the next window: signed afresh
    store.url(KEY)
    assert len(signed) == 2
    assert store.url("uploads/other.jpg") != store.url(KEY)


def test_s3_save_can_mark_an_object_immutable_for_caches(store, s3):
    store.save(KEY, JPEG, "image/jpeg", IMMUTABLE)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["CacheControl"] == "public, max-age=31536000, immutable"


def test_s3_client_is_made_lazily_from_the_environment(s3):
    store = S3Store(BUCKET)
    assert store._client is None, "nothing connects at construction"
    store.save(KEY, JPEG, "image/png")
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentType"] == "image/png"
    assert store.load(KEY) == JPEG


def test_s3_presigned_url_serves_the_bytes_over_real_http(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)  # the store's own client talks to the server
    bucket = "presigned-over-http"
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
    store = S3Store(bucket)
    store.save(KEY, JPEG, "image/jpeg")

    url = store.url(KEY)
    assert url.startswith(moto_server) and "X-Amz-Signature" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.read() == JPEG

    # The bucket is private: without the signed query the same object is refused.
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url.split("?", 1)[0], timeout=10)
    caught.value.close()
    assert caught.value.code == 403
