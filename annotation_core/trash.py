"""The trash: deleting moves images here, so a delete can be undone. An image in the trash is hidden from every
page, listing, search and status document, and its jobs are skipped; the sweeper purges it (objects, then the
row) TRASH_RETENTION_DAYS later. Scripts and pages use the same verbs (`POST /api/images/delete`, `.../restore`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from annotation_core.bootstrap import Services
from annotation_core.errors import StorageError
from annotation_core.job_store import utcnow
from annotation_core.records import ImageRecord, Job, JobState

log = logging.getLogger(__name__)

PURGE_BATCH = 100  # images purged per sweep; the next sweep takes the rest


def move_to_trash(services: Services, image_ids: list[int], *, uploaded_by: int | None = None) -> list[int]:
    """Move these images to the trash (with `uploaded_by`, only that user's); returns the ids moved."""
    moved = services.repository.trash(image_ids, uploaded_by=uploaded_by)
    log.info("moved to the trash: %s", moved)
    return moved


def restore_from_trash(services: Services, image_ids: list[int], *, uploaded_by: int | None = None) -> list[int]:
    """Bring these images back from the trash, as they were (jobs still pending are announced again);
    returns the ids restored."""
    restored = services.repository.restore(image_ids, uploaded_by=uploaded_by)
    if restored and services.announcer is not None:
        # Jobs left pending while in the trash go on now rather than at the sweeper's next look.
        due = [
            (record.id, job)
            for record in services.repository.find_many(restored)
            for job in Job
            if record.job_state(job) is JobState.PENDING and record.progress(job).next_attempt_at is None
        ]
        if due:
            services.announcer.due(due)
    log.info("restored from the trash: %s", restored)
    return restored


def purge_expired(services: Services, *, now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete for good what has been in the trash for TRASH_RETENTION_DAYS: the objects first, then the row (a
    storage failure leaves the row, and the next sweep tries again). Returns how many images were purged."""
    settings, repository = services.settings, services.repository
    trashed_before = (now or utcnow()) - timedelta(days=settings.trash_retention_days)
    purged = 0
    for image_id in repository.expired_trash(trashed_before, lease_seconds=settings.job_lease_seconds, limit=batch):
        record = repository.begin_purge(image_id, trashed_before)
        if record is None:  # restored (or purged by another sweeper) meanwhile
            continue
        try:
            delete_objects(services, record)
        except StorageError as error:
            log.warning("purge of image=%s stopped: %s", image_id, error, extra={"image_id": image_id})
            continue
        repository.delete(image_id)
        purged += 1
    if purged:
        log.info("purged %d images from the trash", purged)
    return purged


def delete_objects(services: Services, record: ImageRecord) -> None:
    """Delete an image's original and renditions (deleting a missing object is not an error)."""
    services.originals.delete(record.original_key)
    for key in (record.thumbnail_key, record.preview_key):
        if key:
            services.thumbnails.delete(key)
