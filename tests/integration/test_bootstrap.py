"""The composition root: a lazy start that leaves the schema alone unless asked, the database pool a Lambda
and a web process get, and Pillow's own pixel guard never stricter than MAX_IMAGE_PIXELS."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from annotation_core.bootstrap import bootstrap
from annotation_core.records import Job
from annotation_core.settings import Settings
from benchmarks.app_server import free_port


def test_bootstrap_connects_lazily_and_brings_the_schema_up_to_date_only_when_asked(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    database = tmp_path / "annotations.db"

    services = bootstrap(settings)
    services.close()
    assert not database.exists(), "nothing connected yet"

    services = bootstrap(settings, migrate=True)
    try:
        assert {"images", "users", "api_tokens", "rate_limits"} <= set(sa.inspect(services.engine).get_table_names())
    finally:
        services.close()


def mysql_settings(tmp_path) -> Settings:
    """MySQL on a port nothing listens on: building the services never connects, so no server is needed."""
    return Settings(data_dir=str(tmp_path), db_host="127.0.0.1", db_port=free_port(), db_user="app", db_password="pw")


def test_a_lambda_container_keeps_one_database_connection_and_a_web_process_a_pool(tmp_path):
    lambda_pool = bootstrap(mysql_settings(tmp_path), single_connection=True).engine.pool
    web_pool = bootstrap(mysql_settings(tmp_path)).engine.pool

    assert (lambda_pool.size(), lambda_pool._max_overflow) == (1, 0)
    assert (web_pool.size(), web_pool._max_overflow) == (4, 4)


@pytest.mark.parametrize(("limit", "pillows"), [(1_000, 89_478_485), (200_000_000, 200_000_000)])
def test_pillows_own_guard_is_never_stricter_than_max_image_pixels(tmp_path, monkeypatch, limit, pillows):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's default
    bootstrap(Settings(data_dir=str(tmp_path), max_image_pixels=limit)).close()
    guard = Image.MAX_IMAGE_PIXELS
    assert guard == pillows, "raised to ours when ours is larger, never lowered"


class RecordingEvents:
    """An EventBridge client that keeps what it is asked to put (and accepts it all)."""

    def __init__(self):
        self.entries = []

    def put_events(self, Entries):  # noqa: N803 (boto3's name)
        self.entries += Entries
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(n)} for n in range(len(Entries))]}


@pytest.fixture
def nowhere(aws_env, monkeypatch):
    """A client made from the environment instead of the one given would fail at once (nothing listens)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


def test_on_aws_jobs_are_announced_on_the_configured_bus_with_the_client_given(tmp_path, nowhere):
    events = RecordingEvents()
    settings = Settings(
        data_dir=str(tmp_path), s3_image_bucket="originals", s3_thumbnail_bucket="thumbs", event_bus_name="jobs-bus"
    )
    services = bootstrap(settings, events_client=events)
    without_bus = bootstrap(dataclasses.replace(settings, event_bus_name=None))

    services.announcer.due([(7, Job.CAPTION)])

    assert [(entry["EventBusName"], json.loads(entry["Detail"])) for entry in events.entries] == [
        ("jobs-bus", {"image_id": 7, "job": "caption", "bucket": "originals"})
    ]
    assert without_bus.announcer is None, "S3 itself announces uploads; retries need the bus"


class RecordingS3:
    """An S3 client that keeps the objects it is asked to put, by bucket and key."""

    def __init__(self):
        self.objects = {}

    def put_object(self, Bucket, Key, Body, **fields):  # noqa: N803 (boto3's names)
        self.objects[Bucket, Key] = Body


def test_on_aws_originals_and_thumbnails_go_to_their_buckets_with_the_client_given(tmp_path, nowhere):
    s3 = RecordingS3()
    settings = Settings(data_dir=str(tmp_path), s3_image_bucket="originals", s3_thumbnail_bucket="thumbs")
    services = bootstrap(settings, s3_client=s3)

    services.originals.save("images/a.jpg", b"original", "image/jpeg")
    services.thumbnails.save("thumbnails/a.jpg", b"thumbnail", "image/jpeg")

    assert s3.objects == {("originals", "images/a.jpg"): b"original", ("thumbs", "thumbnails/a.jpg"): b"thumbnail"}


def test_locally_both_buckets_are_folders_in_data_dir_served_under_media(client, services, settings):
    services.originals.save("images/a.jpg", b"original", "image/jpeg")
    services.thumbnails.save("thumbnails/a.jpg", b"thumbnail", "image/jpeg")

    assert (Path(settings.data_dir) / "images" / "images" / "a.jpg").read_bytes() == b"original"
    assert (Path(settings.data_dir) / "thumbnails" / "thumbnails" / "a.jpg").read_bytes() == b"thumbnail"
    for url, body in [
        (services.originals.url("images/a.jpg"), b"original"),
        (services.thumbnails.url("thumbnails/a.jpg"), b"thumbnail"),
    ]:
        assert url.startswith("/media/")
        with client.get(url) as served:
            assert (served.status_code, served.data) == (200, body)
