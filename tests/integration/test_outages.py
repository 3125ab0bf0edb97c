"""Outages recovered without a restart, with nothing lost: the caption provider away for a while (thumbnails
go on, captions wait, then complete), and storage that refuses writes (a read-only folder, an S3 bucket
whose policy denies PutObject): the upload is a 503 and no row is left behind."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from annotation_core.bootstrap import bootstrap
from annotation_core.records import JobState
from annotation_core.settings import Settings
from conftest import ADMIN_PASSWORD, FAST_HASHING
from tests import images
from tests.web_client import sign_in, upload

# Default settings (first retry after 10 s, doubling, 5 attempts) wait 150 s before a caption's last attempt,
# so they ride out an outage of a minute. The test keeps that ratio at a scale it can wait for: backoff from
# 0.25 s (capped at 2 s), so the last attempt comes after 1.9 to 3.75 s, and an outage of 1.5 s.
RETRY_BASE_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0
OUTAGE_SECONDS = 1.5


@pytest.fixture
def settings(gemini_settings) -> Settings:
    return dataclasses.replace(
        gemini_settings, job_retry_base_seconds=RETRY_BASE_SECONDS, job_retry_max_seconds=RETRY_MAX_SECONDS
    )


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_while_the_caption_provider_is_away_thumbnails_complete_and_captions_wait_then_complete(
    client, services, worker, fake_gemini
):
    fake_gemini.unavailable = True  # first it answers 503 ...
    started = time.monotonic()
    ids = [
        upload(client, (images.jpeg((300, 200), color=color), f"{color}.jpg")).get_json()["images"][0]["id"]
        for color in ("red", "green", "blue")
    ]
    wait_for(lambda: all(r.thumbnail_status is JobState.COMPLETED for r in services.repository.find_many(ids)))
    fake_gemini.stop()  # ... then it is gone: connections are refused
    time.sleep(max(0.0, started + OUTAGE_SECONDS - time.monotonic()))
    during = services.repository.find_many(ids)
    fake_gemini.unavailable = False
    fake_gemini.start()  # back, on the same address: nobody restarts the app

    assert all(r.caption_status is not JobState.COMPLETED and r.caption_attempts >= 1 for r in during)
    assert all(r.caption_status is not JobState.FAILED for r in during), [r.caption_error for r in during]
    wait_for(lambda: all(r.caption_status is JobState.COMPLETED for r in services.repository.find_many(ids)))
    after = services.repository.find_many(ids)
    assert [r.caption for r in after] == ["A small red rectangle."] * 3
    assert all(1 < r.caption_attempts <= services.settings.job_max_attempts for r in after)
    assert all(r.thumbnail_attempts == 1 for r in after)


@contextlib.contextmanager
def read_only(folder: Path):
    """Make `folder` read-only for this process: by its mode, or, for root (whom modes do not stop), by a
    read-only bind mount where the kernel allows one."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"root, and no read-only bind mount allowed here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_bucket_folder_is_503_and_leaves_no_row_then_uploads_go_on(client, services, worker):
    with read_only(services.originals.root):
        refused = upload(client, (images.jpeg(), "a.jpg"))
        listing = client.get("/api/images").get_json()

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
    assert "error" in refused.get_json()
    assert listing["images"] == [] and services.repository.page() == []
    accepted = upload(client, (images.jpeg(), "a.jpg"))  # writable again: the same file goes in
    assert accepted.status_code == 202
    assert worker.drain()
    assert services.repository.get(accepted.get_json()["images"][0]["id"]).thumbnail_status is JobState.COMPLETED


DENY_PUT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::{}/*"}],
}


def test_an_s3_bucket_that_denies_writes_is_503_and_leaves_no_row(aws_env, engine):
    from web_app.app import create_app

    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in ("originals-denied", "thumbnails-denied"):
            s3.create_bucket(Bucket=bucket)
        policy = json.dumps(DENY_PUT).replace("{}", "originals-denied")
        s3.put_bucket_policy(Bucket="originals-denied", Policy=policy)
        settings = Settings(
            s3_image_bucket="originals-denied",
            s3_thumbnail_bucket="thumbnails-denied",
            flask_secret_key="shared",
            admin_password=ADMIN_PASSWORD,
            **FAST_HASHING,
        )
        services = bootstrap(settings, engine=engine)
        client = sign_in(create_app(services=services).test_client(), "admin", ADMIN_PASSWORD)

        refused = upload(client, (images.jpeg(), "a.jpg"))

        assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
        assert "error" in refused.get_json()
        assert services.repository.page() == []
        assert s3.list_objects_v2(Bucket="originals-denied")["KeyCount"] == 0
        s3.delete_bucket_policy(Bucket="originals-denied")  # access granted again: no restart needed
        assert upload(client, (images.jpeg(), "a.jpg")).status_code == 202
        assert s3.list_objects_v2(Bucket="originals-denied")["KeyCount"] == 1
