"""Telling the processing tier that jobs are due: EventBridge on AWS, this machine's worker locally."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from annotation_core.errors import PublishError
from annotation_core.events import JobDue, job_due_entry
from annotation_core.local_channel import send_jobs
from annotation_core.records import Job

log = logging.getLogger(__name__)

_PUT_EVENTS_BATCH = 10  # the most entries one PutEvents call takes


class Announcer(Protocol):
    def uploaded(self, image_id: int) -> None:
        """A new image's original is stored: both of its jobs may start."""

    def due(self, jobs: Iterable[tuple[int, Job]]) -> None:
        """These (image id, job) pairs should run now (retries, the sweeper's finds)."""


class EventBridgeAnnouncer:
    """`PutEvents` of "Image Job Due" events, which stack 03 routes to the function of each job, for the
    deployment whose image bucket the event names.

    A new upload needs no announcement: S3 itself sends "Object Created" to both functions.
    """

    def __init__(self, bus_name: str, bucket: str, client: Any = None):
        self.bus_name = bus_name
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("events")
        return self._client

    def uploaded(self, image_id: int) -> None:
        pass

    def due(self, jobs: Iterable[tuple[int, Job]]) -> None:
        entries = [job_due_entry(JobDue(image_id, Job(job), self.bucket), self.bus_name) for image_id, job in jobs]
        for start in range(0, len(entries), _PUT_EVENTS_BATCH):
            self._put(entries[start : start + _PUT_EVENTS_BATCH])

    def _put(self, entries: list[dict[str, Any]]) -> None:
        try:
            response = self.client.put_events(Entries=entries)
        except (BotoCoreError, ClientError) as error:  # no such bus, access denied, endpoint unreachable
            raise PublishError(
                f"Could not publish to EventBridge bus {self.bus_name!r} ({error}); try again later."
            ) from error
        if response.get("FailedEntryCount"):
            failed = [entry for entry in response["Entries"] if entry.get("ErrorCode")] or [{}]
            reason = failed[0].get("ErrorMessage") or failed[0].get("ErrorCode") or "unknown error"
            raise PublishError(
                f"EventBridge refused {response['FailedEntryCount']} of {len(entries)} job events: {reason}."
            )


class LocalAnnouncer:
    """Datagrams to this machine's worker process (see `local_channel`); if none runs, the jobs wait for it."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)

    def uploaded(self, image_id: int) -> None:
        self.due((image_id, job) for job in Job)

    def due(self, jobs: Iterable[tuple[int, Job]]) -> None:
        jobs = list(jobs)
        if jobs and not send_jobs(self.data_dir, jobs):
            log.info("no local worker is running: %d jobs wait until one starts", len(jobs))


class InProcessAnnouncer:
    """Straight onto the queue of a worker that runs in this process (the dev server, tests)."""

    def __init__(self, enqueue: Callable[[int, Job], None]):
        self.enqueue = enqueue

    def uploaded(self, image_id: int) -> None:
        self.due((image_id, job) for job in Job)

    def due(self, jobs: Iterable[tuple[int, Job]]) -> None:
        for image_id, job in jobs:
            self.enqueue(image_id, Job(job))
