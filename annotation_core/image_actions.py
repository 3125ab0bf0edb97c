"""What a user can do to existing images: retry their jobs, or delete them with their objects."""

from __future__ import annotations

import logging

from annotation_core.announcers import Announcer
from annotation_core.bootstrap import Services
from annotation_core.errors import AnnotationError, ConfigurationError, ImageNotFoundError
from annotation_core.records import ImageRecord, Job, JobState
from annotation_core.trash import delete_objects

log = logging.getLogger(__name__)

RETRY_ALL_LIMIT = 1000


class JobBusyError(AnnotationError):
    """The job is running right now and cannot be queued again until it ends."""

    http_status = 409


# failed jobs put back per "retry all failed"; press again for more


def retry_image(services: Services, image_id: int) -> tuple[ImageRecord, list[Job]]:
    """Put the image's failed, stuck and waiting jobs back to pending, due now, and announce them.

    Jobs already pending are announced too, so a retry whose announcement was lost can simply be repeated.
    """
    announcer = _announcer(services)
    reset = services.repository.reset_for_retry(image_id, services.settings.job_lease_seconds)
    record = services.repository.get(image_id)
    pending = [(image_id, job) for job in Job if record.job_state(job) is JobState.PENDING]
    if pending:
        announcer.due(pending)
    log.info("retry image=%s reset=%s", image_id, [str(job) for job in reset], extra={"image_id": image_id})
    return record, reset


def retry_failed(
    services: Services, image_ids: list[int] | None = None, *, uploaded_by: int | None = None
) -> list[tuple[int, Job]]:
    """Put failed jobs back to pending and announce them: of the given images, or (None) the newest
    RETRY_ALL_LIMIT failed ones of each kind; with `uploaded_by`, only that user's images.
    Returns the (image id, job) pairs reset."""
    announcer = _announcer(services)
    reset = services.repository.reset_failed(image_ids, limit=RETRY_ALL_LIMIT, uploaded_by=uploaded_by)
    if reset:
        announcer.due(reset)
    log.info("retry failed: %d jobs of %d images", len(reset), len({image_id for image_id, _job in reset}))
    return reset


def regenerate_caption(services: Services, image_id: int) -> ImageRecord:
    """Ask the model again for any image's caption; people's edits stay as they are."""
    announcer = _announcer(services)
    services.repository.get(image_id)  # 404 for an unknown id
    if not services.repository.requeue(image_id, Job.CAPTION, services.settings.job_lease_seconds):
        raise JobBusyError("A caption is being written for this image right now; try again when it is done.")
    announcer.due([(image_id, Job.CAPTION)])
    log.info("regenerate caption image=%s", image_id, extra={"image_id": image_id, "job": "caption"})
    return services.repository.get(image_id)


def regenerate_captions(
    services: Services, image_ids: list[int], *, uploaded_by: int | None = None
) -> tuple[list[int], list[int]]:
    """Ask the model again for the captions of these images (with `uploaded_by`, only that user's); returns the
    ids queued and those whose caption is being written right now (busy), newest first."""
    announcer = _announcer(services)
    lease = services.settings.job_lease_seconds
    queued, busy = [], []
    for record in services.repository.find_many(image_ids):
        if uploaded_by is not None and record.uploaded_by != uploaded_by:
            continue
        (queued if services.repository.requeue(record.id, Job.CAPTION, lease) else busy).append(record.id)
    if queued:
        announcer.due([(image_id, Job.CAPTION) for image_id in queued])
    log.info("regenerate captions: %d queued, %d busy", len(queued), len(busy))
    return queued, busy


def delete_image(services: Services, image_id: int) -> ImageRecord:
    """Delete the original and renditions, then the row; a failure part-way can be finished by deleting again."""
    record = services.repository.get(image_id)
    delete_objects(services, record)
    if services.repository.delete(image_id) is None:
        raise ImageNotFoundError(f"No image has id {image_id}.")
    log.info("deleted image=%s", image_id, extra={"image_id": image_id})
    return record


def _announcer(services: Services) -> Announcer:
    if services.announcer is None:
        raise ConfigurationError("Retries need an event bus: set EVENT_BUS_NAME (on AWS, 'default').")
    return services.announcer
