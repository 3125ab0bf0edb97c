"""What a user can do to an existing image: retry its failed jobs, or delete it with its objects."""

from __future__ import annotations

import logging

from annotation_core.bootstrap import Services
from annotation_core.errors import ConfigurationError, ImageNotFoundError
from annotation_core.events import ObjectCreated
from annotation_core.records import ImageRecord, Job, JobState

log = logging.getLogger(__name__)


def retry_image(services: Services, image_id: int) -> tuple[ImageRecord, list[Job]]:
    """Put failed jobs back to pending and announce the original again, as S3 did on upload.

    Jobs already pending are announced too, so a retry whose event was lost can simply be repeated.
    """
    reset = services.repository.reset_failed(image_id)
    record = services.repository.get(image_id)
    if any(record.job_state(job) is JobState.PENDING for job in Job):
        if services.publisher is None:
            raise ConfigurationError("Retries need an event bus: set EVENT_BUS_NAME (on AWS, 'default').")
        services.publisher.publish(ObjectCreated(services.originals.bucket, record.original_key))
    log.info("retry image=%s reset=%s", image_id, [str(job) for job in reset], extra={"image_id": image_id})
    return record, reset


def delete_image(services: Services, image_id: int) -> ImageRecord:
    """Delete the original and thumbnail, then the row; a failure part-way can be finished by deleting again."""
    record = services.repository.get(image_id)
    services.originals.delete(record.original_key)
    if record.thumbnail_key:
        services.thumbnails.delete(record.thumbnail_key)
    if services.repository.delete(image_id) is None:
        raise ImageNotFoundError(f"No image has id {image_id}.")
    log.info("deleted image=%s", image_id, extra={"image_id": image_id})
    return record
