"""What a user can do to existing images: retry their jobs, or delete them with their objects."""

from __future__ import annotations

import logging

from annotation_core.announcers import Announcer
from annotation_core.bootstrap import Services
from annotation_core.errors import ConfigurationError, ImageNotFoundError
from annotation_core.records import ImageRecord, Job, JobState

log = logging.getLogger(__name__)

RETRY_ALL_LIMIT = 1000  # failed jobs put back per "retry all failed"; press again for more


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


def retry_failed(services: Services, image_ids: list[int] | None = None) -> list[tuple[int, Job]]:
    """Put failed jobs back to pending and announce them: of the given images, or (None) the newest
    RETRY_ALL_LIMIT failed ones of each kind. Returns the (image id, job) pairs reset."""
    announcer = _announcer(services)
    reset = services.repository.reset_failed(image_ids, limit=RETRY_ALL_LIMIT)
    if reset:
        announcer.due(reset)
    log.info("retry failed: %d jobs of %d images", len(reset), len({image_id for image_id, _job in reset}))
    return reset


def delete_image(services: Services, image_id: int) -> ImageRecord:
    """Delete the original and renditions, then the row; a failure part-way can be finished by deleting again."""
    record = services.repository.get(image_id)
    services.originals.delete(record.original_key)
    for key in (record.thumbnail_key, record.preview_key):
        if key:
            services.thumbnails.delete(key)
    if services.repository.delete(image_id) is None:
        raise ImageNotFoundError(f"No image has id {image_id}.")
    log.info("deleted image=%s", image_id, extra={"image_id": image_id})
    return record


def _announcer(services: Services) -> Announcer:
    if services.announcer is None:
        raise ConfigurationError("Retries need an event bus: set EVENT_BUS_NAME (on AWS, 'default').")
    return services.announcer
