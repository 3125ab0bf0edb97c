"""What a Lambda is asked to do, read from the events that carry it.

Two kinds of event reach the functions: S3's "Object Created" (as EventBridge delivers it, or as a classic
S3 notification's `Records[]`), which names an object and means "both jobs of its image", and our own
"Image Job Due" (published with `PutEvents` by retries and the sweeper), which names an image id and one job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from annotation_core.errors import AnnotationError
from annotation_core.records import Job

JOB_SOURCE = "image-annotation.retry"
OBJECT_CREATED = "Object Created"
JOB_DUE = "Image Job Due"
MAX_IMAGE_ID = 2**63  # ids are BIGINT: a larger one can name no row and would be a database error


class EventParseError(AnnotationError):
    """The event is neither an S3 'Object Created' notification nor an 'Image Job Due' event."""


@dataclass(frozen=True)
class ObjectCreated:
    """An object now exists at `key` in `bucket`: its image's jobs can run."""

    bucket: str
    key: str


@dataclass(frozen=True)
class JobDue:
    """The `job` of image `image_id` should run (again); `bucket` names the deployment's image bucket (two
    deployments in one account share the default bus, so each function runs only its own deployment's jobs)."""

    image_id: int
    job: Job
    bucket: str | None = None


JobTarget = ObjectCreated | JobDue


def parse_job_targets(event: Mapping[str, Any]) -> list[JobTarget]:
    """Read every target an event names; raises EventParseError for anything else."""
    if not isinstance(event, Mapping):
        raise EventParseError(f"Not an S3 or job event: expected a JSON object, got {type(event).__name__}.")
    try:
        if "Records" in event:
            # Classic notifications URL-encode keys ("my photo.jpg" arrives as "my+photo.jpg").
            return [
                _object_created(record["s3"]["bucket"]["name"], unquote_plus(_text(record["s3"]["object"]["key"])))
                for record in _records(event["Records"])
                if str(record.get("eventName", "ObjectCreated:")).startswith("ObjectCreated:")
            ]
        detail_type = event.get("detail-type")
        if detail_type == OBJECT_CREATED:
            detail = event["detail"]
            return [_object_created(detail["bucket"]["name"], detail["object"]["key"])]
        if detail_type == JOB_DUE:
            return [_job_due(event["detail"])]
    except KeyError as error:
        raise EventParseError(f"Malformed event: missing {error}.") from error
    except (AttributeError, TypeError) as error:  # a record or field of the wrong type
        raise EventParseError(f"Malformed event: {error}.") from error
    raise EventParseError(
        f"Not an S3 or job event: expected 'Records' or detail-type {OBJECT_CREATED!r} or {JOB_DUE!r}."
    )


def _records(records: Any) -> list[Mapping[str, Any]]:
    if not isinstance(records, list):
        raise EventParseError(f"Malformed event: Records must be a list, got {type(records).__name__}.")
    return records


def _text(value: Any) -> str:
    """A bucket name or key: a non-empty string (a number or object there would reach the database)."""
    if not isinstance(value, str) or not value:
        raise EventParseError(f"Malformed event: a bucket name or key must be a non-empty string, got {value!r:.80}.")
    return value


def _object_created(bucket: Any, key: Any) -> ObjectCreated:
    return ObjectCreated(_text(bucket), _text(key))


def _job_due(detail: Mapping[str, Any]) -> JobDue:
    image_id, job, bucket = detail["image_id"], detail["job"], detail.get("bucket")
    if type(image_id) is not int or not 0 < image_id < MAX_IMAGE_ID:
        raise EventParseError(f"Malformed event: image_id must be a positive integer, got {image_id!r:.80}.")
    if job not in set(Job):
        raise EventParseError(f"Malformed event: job must be one of {', '.join(Job)}, got {job!r:.80}.")
    if bucket is not None and not isinstance(bucket, str):
        raise EventParseError(f"Malformed event: bucket must be a bucket name, got {bucket!r:.80}.")
    return JobDue(image_id, Job(job), bucket)


def job_due_entry(due: JobDue, bus_name: str) -> dict[str, Any]:
    """The `PutEvents` entry announcing `due`; stack 03 routes it to the function of its job (and bucket)."""
    detail = {"image_id": due.image_id, "job": str(due.job), "bucket": due.bucket}
    return {
        "Source": JOB_SOURCE,
        "DetailType": JOB_DUE,
        "Detail": json.dumps({name: value for name, value in detail.items() if value is not None}),
        "EventBusName": bus_name,
    }
