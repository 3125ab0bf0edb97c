"""Parsing both AWS 'Object Created' shapes, and building the shapes we send ourselves."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from annotation_core.events import (
    DETAIL_TYPE,
    RETRY_SOURCE,
    EventParseError,
    ObjectCreated,
    eventbridge_event,
    parse_object_created,
    put_events_entry,
)

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
    assert parse_object_created(eventbridge) == [ObjectCreated(BUCKET, KEY)]


def test_parses_a_classic_s3_notification(notification):
    assert parse_object_created(notification) == [ObjectCreated(BUCKET, KEY)]


def test_classic_notification_keys_are_url_decoded(notification):
    # S3 form-encodes keys: space as '+' (or %20), '+' as %2B, UTF-8 as percent escapes.
    notification["Records"][0]["s3"]["object"]["key"] = "uploads/my+holiday%20photo%2B%C3%A9t%C3%A9+%E2%98%80.jpg"
    assert parse_object_created(notification) == [ObjectCreated(BUCKET, "uploads/my holiday photo+été ☀.jpg")]


def test_every_record_of_a_notification_is_parsed_in_order(notification):
    first = notification["Records"][0]
    second = copy.deepcopy(first)
    second["s3"]["object"]["key"] = "uploads/second.png"
    second["s3"]["bucket"]["name"] = "other-bucket"
    notification["Records"].append(second)
    assert parse_object_created(notification) == [
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
    assert parse_object_created(notification) == [
        ObjectCreated(BUCKET, KEY),
        ObjectCreated(BUCKET, "uploads/copied.jpg"),
    ]


def test_a_notification_with_only_other_records_yields_nothing(notification):
    notification["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert parse_object_created(notification) == []


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
        parse_object_created(event)
    assert caught.value.message


def test_eventbridge_event_round_trips_through_the_parser():
    created = ObjectCreated("my-bucket", "uploads/a b+c é.png")
    event = eventbridge_event(created)
    assert event["detail-type"] == DETAIL_TYPE
    assert event["source"] == "aws.s3"
    assert event["resources"] == ["arn:aws:s3:::my-bucket"]
    assert parse_object_created(event) == [created]
    # The envelope survives JSON, as it does on its way through EventBridge.
    assert parse_object_created(json.loads(json.dumps(event))) == [created]


def test_eventbridge_events_get_fresh_ids():
    created = ObjectCreated("b", "k")
    assert eventbridge_event(created)["id"] != eventbridge_event(created)["id"]


def test_put_events_entry_is_a_retry_the_s3_rule_also_matches():
    created = ObjectCreated("my-bucket", "uploads/0123abcd.webp")
    entry = put_events_entry(created, "image-bus")
    assert entry["Source"] == RETRY_SOURCE == "image-annotation.retry"
    assert entry["DetailType"] == "Object Created"
    assert entry["EventBusName"] == "image-bus"
    assert entry["Resources"] == ["arn:aws:s3:::my-bucket"]
    detail = json.loads(entry["Detail"])
    assert detail["bucket"]["name"] == "my-bucket"
    assert detail["object"]["key"] == "uploads/0123abcd.webp"
    # As EventBridge delivers it to a target: the entry wrapped in the envelope.
    delivered = {
        "version": "0",
        "id": "a1b2c3d4-0000-0000-0000-000000000000",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-11-26T05:31:00Z",
        "region": "us-east-1",
        "resources": entry["Resources"],
        "detail": detail,
    }
    assert parse_object_created(delivered) == [created]
