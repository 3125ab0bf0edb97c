"""The `ObjectCreated` value and parsing of both AWS event shapes that carry it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus
from uuid import uuid4

from annotation_core.errors import AnnotationError

RETRY_SOURCE = "image-annotation.retry"
DETAIL_TYPE = "Object Created"


class EventParseError(AnnotationError):
    """The event is not an S3 'Object Created' notification in either known shape."""


@dataclass(frozen=True)
class ObjectCreated:
    """An object now exists at `key` in `bucket`."""

    bucket: str
    key: str


def parse_object_created(event: Mapping[str, Any]) -> list[ObjectCreated]:
    """Read EventBridge 'Object Created' events and classic S3 `Records[]` notifications alike."""
    if not isinstance(event, Mapping):
        raise EventParseError(f"Not an S3 event: expected a JSON object, got {type(event).__name__}.")
    try:
        if "Records" in event:
            # Classic notifications URL-encode keys ("my photo.jpg" arrives as "my+photo.jpg").
            return [
                ObjectCreated(record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"]))
                for record in event["Records"]
                if str(record.get("eventName", "ObjectCreated:")).startswith("ObjectCreated:")
            ]
        if event.get("detail-type") == DETAIL_TYPE:
            detail = event["detail"]
            return [ObjectCreated(detail["bucket"]["name"], detail["object"]["key"])]
    except KeyError as error:
        raise EventParseError(f"Malformed S3 event: missing {error}.") from error
    except (AttributeError, TypeError) as error:  # a record or field of the wrong type
        raise EventParseError(f"Malformed S3 event: {error}.") from error
    raise EventParseError("Not an S3 'Object Created' event: expected 'Records' or detail-type 'Object Created'.")


def eventbridge_event(created: ObjectCreated, source: str = "aws.s3") -> dict[str, Any]:
    """Build the EventBridge envelope S3 sends, as the local bus delivers it to the handlers."""
    return {
        "version": "0",
        "id": str(uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": source,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [f"arn:aws:s3:::{created.bucket}"],
        "detail": eventbridge_detail(created),
    }


def eventbridge_detail(created: ObjectCreated) -> dict[str, Any]:
    return {"version": "0", "bucket": {"name": created.bucket}, "object": {"key": created.key}, "reason": "PutObject"}


def put_events_entry(created: ObjectCreated, bus_name: str) -> dict[str, Any]:
    """A `PutEvents` entry the same rule matches as S3's own event (retries on AWS)."""
    return {
        "Source": RETRY_SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(eventbridge_detail(created)),
        "Resources": [f"arn:aws:s3:::{created.bucket}"],
        "EventBusName": bus_name,
    }
