"""The job skeleton both Lambdas share: parse the event, claim, load the original, work, record."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from annotation_core.bootstrap import Services
from annotation_core.errors import AnnotationError
from annotation_core.events import ObjectCreated, parse_object_created
from annotation_core.records import ImageRecord, Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutput:
    """What a job's work produced: the columns to record, and how to remove any object it wrote."""

    columns: Mapping[str, Any]
    undo: Callable[[], None] | None = None


# A job's work: given the services, the image and its original bytes, return its output.
Work = Callable[[Services, ImageRecord, bytes], JobOutput]


def run_job(job: Job, event: Mapping[str, Any], services: Services, work: Work) -> dict[str, int]:
    """Run `work` for every object the event announces; returns how many ended in each outcome."""
    outcomes = Counter(_run_one(job, created, services, work) for created in parse_object_created(event))
    return dict(outcomes)


def _run_one(job: Job, created: ObjectCreated, services: Services, work: Work) -> str:
    if created.bucket != services.originals.bucket:
        log.warning("ignored event for bucket=%s key=%s job=%s", created.bucket, created.key, job)
        return "ignored"
    record = services.repository.find_by_original_key(created.key)
    if record is None:  # deleted meanwhile, or an object nobody uploaded through the app
        log.warning("no image row for key=%s job=%s", created.key, job, extra={"job": str(job)})
        return "ignored"
    context = {"image_id": record.id, "job": str(job)}
    claim = services.repository.claim(record.id, job, services.settings.job_lease_seconds)
    if claim is None:
        log.info("nothing to claim image=%s job=%s (duplicate event or already done)", record.id, job, extra=context)
        return "skipped"
    try:
        output = work(services, record, services.originals.load(created.key))
    except AnnotationError as error:
        services.repository.fail(claim, error.message)
        log.warning("job failed image=%s job=%s: %s", record.id, job, error.message, extra=context)
        return "failed"
    except Exception as error:  # a bug must not leave the job stuck in 'processing'
        log.exception("job crashed image=%s job=%s", record.id, job, extra=context)
        services.repository.fail(
            claim,
            f"Unexpected {type(error).__name__} while making the {job}: retry it, and report it if it fails again.",
        )
        return "failed"
    if not services.repository.finish(claim, output.columns):
        # Taken over: the new owner writes the same objects. Deleted meanwhile: ours would be orphans.
        if output.undo is not None and services.repository.find(record.id) is None:
            output.undo()
        log.warning("claim lost image=%s job=%s (deleted or taken over)", record.id, job, extra=context)
        return "lost"
    log.info("job completed image=%s job=%s", record.id, job, extra=context)
    return "completed"
