"""Parsing both AWS 'Object Created' shapes and our 'Image Job Due' events, and building the latter."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from annotation_core.events import (
    JOB_DUE,
    JOB_SOURCE,
    EventParseError,
    JobDue,
    ObjectCreated,
    job_due_entry,
    parse_job_targets,
)
from annotation_core.records import Job

EVENTS = Path(__file__).resolve().parents[1] / "events"
BUCKET = "image-annotation-originals-123456789012"
KEY = "uploads/3f2b8c1e9d4a4f6b8e0c2a7d5b1e9f30.jpg"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def eventbridge() -> dict:
    return load_event("eventbridge_object_created.json")


@pytest.fixture
def notification() -> dict:
    return load_event("s3_notification.json")


def test_sample_events_have_the_full_aws_shape(eventbridge, notification):
    assert {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} <= set(
        eventbridge
    )
    assert {"size", "etag", "sequencer"} <= set(eventbridge["detail"]["object"])
    assert {"request-id", "requester", "reason"} <= set(eventbridge["detail"])
    record = notification["Records"][0]
    assert {"eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "s3"} <= set(record)
    assert {"size", "eTag", "sequencer"} <= set(record["s3"]["object"])


def test_parses_an_eventbridge_object_created_event(eventbridge):
    assert parse_job_targets(eventbridge) == [ObjectCreated(BUCKET, KEY)]


def test_parses_a_classic_s3_notification(notification):
    assert parse_job_targets(notification) == [ObjectCreated(BUCKET, KEY)]


def test_classic_notification_keys_are_url_decoded(notification):
    # S3 form-encodes keys: space as '+' (or %20), '+' as %2B, UTF-8 as percent escapes.
    notification["Records"][0]["s3"]["object"]["key"] = "uploads/my+holiday%20photo%2B%C3%A9t%C3%A9+%E2%98%80.jpg"
    assert parse_job_targets(notification) == [ObjectCreated(BUCKET, "uploads/my holiday photo+été ☀.jpg")]


def test_every_record_of_a_notification_is_parsed_in_order(notification):
    first = notification["Records"][0]
    second = copy.deepcopy(first)
    second["s3"]["object"]["key"] = "uploads/second.png"
    second["s3"]["bucket"]["name"] = "other-bucket"
    notification["Records"].append(second)
    assert parse_job_targets(notification) == [
        ObjectCreated(BUCKET, KEY),
        ObjectCreated("other-bucket", "uploads/second.png"),
    ]


def test_records_that_are_not_object_created_are_skipped(notification):
    created = notification["Records"][0]
    removed = copy.deepcopy(created)
    removed["eventName"] = "ObjectRemoved:Delete"
    removed["s3"]["object"]["key"] = "uploads/gone.jpg"
    restored = copy.deepcopy(created)
    restored["eventName"] = "ObjectRestore:Completed"
    copied = copy.deepcopy(created)
    copied["eventName"] = "ObjectCreated:Copy"
    copied["s3"]["object"]["key"] = "uploads/copied.jpg"
    notification["Records"] = [removed, created, restored, copied]
    assert parse_job_targets(notification) == [
        ObjectCreated(BUCKET, KEY),
        ObjectCreated(BUCKET, "uploads/copied.jpg"),
    ]


def test_a_notification_with_only_other_records_yields_nothing(notification):
    notification["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert parse_job_targets(notification) == []


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"hello": "world"},
        {"detail-type": "Object Deleted", "source": "aws.s3", "detail": {"bucket": {"name": "b"}, "object": {}}},
        {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
        {"detail-type": "Object Created"},
        {"detail-type": "Object Created", "detail": {"bucket": {"name": "b"}}},
        {"detail-type": "Object Created", "detail": {"object": {"key": "k"}}},
        {"detail-type": "Object Created", "detail": None},
        {"Records": [{"eventName": "ObjectCreated:Put"}]},
        {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}]},
        {"Records": None},
        {"Records": ["not a record"]},
        None,
        [],
        "Object Created",
    ],
    ids=lambda event: json.dumps(event)[:60],
)
def test_malformed_or_unknown_events_raise_event_parse_error(event):
    with pytest.raises(EventParseError) as caught:
        parse_job_targets(event)
    assert caught.value.message


def delivered(entry: dict) -> dict:
    """A PutEvents entry as EventBridge hands it to a target: wrapped in the envelope."""
    return {
        "version": "0",
        "id": "a1b2c3d4-0000-0000-0000-000000000000",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-11-26T05:31:00Z",
        "region": "us-east-1",
        "resources": entry.get("Resources", []),
        "detail": json.loads(entry["Detail"]),
    }


@pytest.mark.parametrize("job", list(Job))
def test_a_job_due_entry_round_trips_through_the_parser(job):
    entry = job_due_entry(JobDue(42, job, BUCKET), "image-bus")
    assert entry["Source"] == JOB_SOURCE == "image-annotation.retry"
    assert entry["DetailType"] == JOB_DUE == "Image Job Due"
    assert entry["EventBusName"] == "image-bus"
    assert json.loads(entry["Detail"]) == {"image_id": 42, "job": job.value, "bucket": BUCKET}
    assert parse_job_targets(delivered(entry)) == [JobDue(42, job, BUCKET)]
    assert parse_job_targets(json.loads(json.dumps(delivered(entry)))) == [JobDue(42, job, BUCKET)]
    assert json.loads(job_due_entry(JobDue(42, job), "b")["Detail"]) == {"image_id": 42, "job": job.value}


@pytest.mark.parametrize(
    "detail",
    [
        {"image_id": "42", "job": "caption"},
        {"image_id": 0, "job": "caption"},
        {"image_id": -3, "job": "caption"},
        {"image_id": True, "job": "caption"},
        {"image_id": 4.0, "job": "caption"},
        {"image_id": 42, "job": "resize"},
        {"image_id": 42},
        {"job": "caption"},
        {"image_id": 42, "job": "caption", "bucket": ["b"]},
        None,
        [],
    ],
    ids=lambda detail: json.dumps(detail),
)
def test_malformed_job_due_events_raise_event_parse_error(detail):
    with pytest.raises(EventParseError) as caught:
        parse_job_targets({"detail-type": JOB_DUE, "source": JOB_SOURCE, "detail": detail})
    assert caught.value.message.startswith("Malformed event")


def test_the_smallest_image_id_is_accepted():
    assert parse_job_targets({"detail-type": JOB_DUE, "detail": {"image_id": 1, "job": "thumbnail"}}) == [
        JobDue(1, Job.THUMBNAIL)
    ]


def test_the_largest_bigint_image_id_is_accepted():
    largest = 2**63 - 1
    assert parse_job_targets({"detail-type": JOB_DUE, "detail": {"image_id": largest, "job": "caption"}}) == [
        JobDue(largest, Job.CAPTION)
    ]


def test_a_record_without_an_event_name_is_taken_as_created(notification):
    del notification["Records"][0]["eventName"]
    assert parse_job_targets(notification) == [ObjectCreated(BUCKET, KEY)]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (["a list"], "Not an S3 or job event: expected a JSON object, got list."),
        ({"hello": "world"}, "Not an S3 or job event: expected 'Records' or detail-type 'Object Created' or "),
        ({"detail-type": "Object Created", "detail": {"object": {"key": "k"}}}, "Malformed event: missing 'bucket'."),
        ({"Records": ["not a record"]}, "Malformed event: 'str' object has no attribute 'get'."),
        (
            {"detail-type": JOB_DUE, "detail": {"image_id": 0, "job": "caption"}},
            "image_id must be a positive integer, got 0.",
        ),
        (
            {"detail-type": JOB_DUE, "detail": {"image_id": 7, "job": "resize"}},
            "must be one of thumbnail, caption, got 'resize'.",
        ),
        (
            {"detail-type": JOB_DUE, "detail": {"image_id": 7, "job": "caption", "bucket": 5}},
            "must be a bucket name, got 5.",
        ),
        ({"Records": {"s3": {}}}, "Malformed event: Records must be a list, got dict."),
        (
            {"detail-type": "Object Created", "detail": {"bucket": {"name": "b"}, "object": {"key": ""}}},
            "Malformed event: a bucket name or key must be a non-empty string, got ''.",
        ),
        (
            {"detail-type": "Object Created", "detail": {"bucket": {"name": 12}, "object": {"key": "k"}}},
            "Malformed event: a bucket name or key must be a non-empty string, got 12.",
        ),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_refused_event_says_what_was_wrong(event, message):
    with pytest.raises(EventParseError) as caught:
        parse_job_targets(event)
    assert message in caught.value.message
