"""At-least-once delivery as AWS does it: the same event five times at once reaches five containers, and the
work is done once; events for images in the trash, purged ones or keys nobody uploaded are logged and dropped.

Each thread is a container of its own (its own services and database connection), as five concurrent Lambda
invocations are; writes are counted by moto's S3 versioning, provider calls at the fake Gemini.
"""

from __future__ import annotations

import logging
import threading

import pytest

from annotation_core import lambda_entry
from annotation_core.bootstrap import bootstrap
from annotation_core.image_actions import delete_image
from annotation_core.settings import load_settings
from lambda_functions.annotation_lambda import lambda_function as annotation
from lambda_functions.thumbnail_lambda import lambda_function as thumbnail
from tests import images
from tests.integration.test_lambda_handlers import (  # noqa: F401 - fixtures
    ORIGINALS,
    THUMBNAILS,
    eventbridge_event,
    lambda_env,
    s3_notification,
    uploaded,
    web,
)

DELIVERIES = 5


@pytest.fixture
def containers(monkeypatch, lambda_env):  # noqa: F811
    """Every thread gets the services of a container of its own (a cold start each)."""
    local = threading.local()
    made = []

    def this_containers_services():
        if not hasattr(local, "services"):
            local.services = bootstrap(load_settings(read_dotenv=False), single_connection=True)
            made.append(local.services)
        return local.services

    monkeypatch.setattr(lambda_entry, "lambda_services", this_containers_services)
    lambda_env.put_bucket_versioning(Bucket=THUMBNAILS, VersioningConfiguration={"Status": "Enabled"})
    yield
    for services in made:
        annotation.provider_for_settings(services.settings).close()  # its keep-alive connections to the fake
        services.close()
    annotation.provider_for_settings.cache_clear()


def deliver_at_once(handler, event, lambda_context) -> list[dict]:
    barrier = threading.Barrier(DELIVERIES)
    summaries = []

    def invoke():
        barrier.wait()
        summaries.append(handler(event, lambda_context))

    threads = [threading.Thread(target=invoke) for _ in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return summaries


def writes(s3, bucket: str) -> dict[str, int]:
    """Versions written per key."""
    counted: dict[str, int] = {}
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        counted[version["Key"]] = counted.get(version["Key"], 0) + 1
    return counted


@pytest.mark.parametrize("shape", [eventbridge_event, s3_notification], ids=["eventbridge", "s3"])
def test_one_event_delivered_five_times_at_once_writes_each_rendition_once_and_asks_the_provider_once(
    web,  # noqa: F811
    lambda_env,  # noqa: F811
    containers,
    lambda_context,
    fake_gemini,
    shape,
):
    record = uploaded(web)
    fake_gemini.delay_seconds = 0.3  # the winner is still at work while the others arrive
    event = shape(record.original_key)

    made = deliver_at_once(thumbnail.lambda_handler, event, lambda_context)
    captioned = deliver_at_once(annotation.lambda_handler, event, lambda_context)

    assert sorted(map(str, made)) == sorted(map(str, [{"completed": 1}] + [{"skipped": 1}] * 4))
    assert sorted(map(str, captioned)) == sorted(map(str, [{"completed": 1}] + [{"skipped": 1}] * 4))
    row = web.repository.get(record.id)
    assert writes(lambda_env, THUMBNAILS) == {row.thumbnail_key: 1, row.preview_key: 1}
    assert len(fake_gemini.requests) == 1
    assert (row.thumbnail_attempts, row.caption_attempts) == (1, 1)
    assert (row.thumbnail_status, row.caption_status) == ("completed", "completed")


@pytest.mark.parametrize("fate", ["trashed", "purged", "never uploaded"])
def test_events_for_images_in_the_trash_purged_or_unknown_are_logged_and_dropped(
    web,  # noqa: F811
    lambda_env,  # noqa: F811
    containers,
    lambda_context,
    fake_gemini,
    caplog,
    fate,
):
    record = uploaded(web, images.jpeg((300, 200), color="green"))
    key = record.original_key
    if fate == "trashed":
        web.repository.trash([record.id])
    elif fate == "purged":
        delete_image(web, record.id)
    else:
        key = "uploads/nobody-uploaded-this.jpg"
        lambda_env.put_object(Bucket=ORIGINALS, Key=key, Body=images.jpeg())
    caplog.set_level(logging.WARNING, logger="annotation_core.lifecycle")

    made = thumbnail.lambda_handler(eventbridge_event(key), lambda_context)
    captioned = annotation.lambda_handler(s3_notification(key), lambda_context)

    assert made == captioned == {"ignored": 1}
    assert writes(lambda_env, THUMBNAILS) == {}
    assert fake_gemini.requests == []
    dropped = [r.getMessage() for r in caplog.records if "no image row" in r.getMessage()]
    assert dropped == [f"no image row for key={key} job=thumbnail", f"no image row for key={key} job=caption"]
    if fate == "trashed":
        row = web.repository.find(record.id, include_trashed=True)
        assert (row.thumbnail_attempts, row.caption_attempts) == (0, 0)
