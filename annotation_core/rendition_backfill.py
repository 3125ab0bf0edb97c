"""Re-render the images made before renditions existed, through the thumbnail job itself.

The web tier never decodes here (on AWS that would be the wrong machine for it): images still lacking a
preview get their thumbnail job queued again and announced, as a retry is — PutEvents to the thumbnail
Lambda on AWS, the local worker on one machine — at most `concurrency` at a time. Stopping (Ctrl-C) loses
nothing: the jobs already queued still run, and a new run selects whatever still lacks renditions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from annotation_core.bootstrap import Services
from annotation_core.errors import ConfigurationError
from annotation_core.records import Job, JobState


@dataclass
class BackfillResult:
    """How the images this run queued ended: re-rendered, failed (see their thumbnail_error), or deleted."""

    rendered: int = 0
    failed: list[int] = field(default_factory=list)
    gone: int = 0


def backfill_renditions(
    services: Services,
    *,
    concurrency: int = 4,
    poll_seconds: float = 0.5,
    progress: Callable[[int], None] = lambda settled: None,
) -> BackfillResult:
    """Queue the thumbnail job of every image lacking renditions, oldest first, keeping at most `concurrency`
    unfinished; `progress(n)` is told each time n more have settled. Returns when all have."""
    if services.announcer is None:
        raise ConfigurationError("The backfill announces thumbnail jobs: set EVENT_BUS_NAME (on AWS, 'default').")
    repository, result = services.repository, BackfillResult()
    in_flight: set[int] = set()
    after_id, exhausted = 0, False
    while True:
        room = concurrency - len(in_flight)
        if room > 0 and not exhausted:
            image_ids = repository.lacking_renditions(after_id=after_id, limit=room)
            exhausted = len(image_ids) < room
            if image_ids:
                after_id = image_ids[-1]
                repository.queue_again(image_ids, Job.THUMBNAIL)
                services.announcer.due((image_id, Job.THUMBNAIL) for image_id in image_ids)
                in_flight.update(image_ids)
        if not in_flight:
            return result
        time.sleep(poll_seconds)
        settled = _settle(repository, in_flight, result)
        if settled:
            in_flight -= settled
            progress(len(settled))


def _settle(repository, in_flight: set[int], result: BackfillResult) -> set[int]:
    """The images among `in_flight` whose thumbnail job has ended (or that were deleted), counted in `result`."""
    records = {record.id: record for record in repository.find_many(sorted(in_flight))}
    settled = set()
    for image_id in in_flight:
        record = records.get(image_id)
        if record is None:
            result.gone += 1
        elif record.thumbnail_status is JobState.COMPLETED:
            result.rendered += 1
        elif record.thumbnail_status is JobState.FAILED:
            result.failed.append(image_id)
        else:
            continue
        settled.add(image_id)
    return settled
