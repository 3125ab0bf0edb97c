"""Accept an upload: inspect it, refuse or de-duplicate it, then commit the row before writing the object."""

from __future__ import annotations

import hashlib
import logging
import math
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath, PureWindowsPath

import sqlalchemy as sa

from annotation_core.bootstrap import Services
from annotation_core.errors import AnnotationError, TooManyRequestsError
from annotation_core.image_inspection import ImageInfo, inspect_upload
from annotation_core.job_store import utcnow
from annotation_core.records import ImageRecord
from annotation_core.repository import NewImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed inspection and may be stored."""

    filename: str
    data: bytes
    info: ImageInfo
    sha256: str


@dataclass(frozen=True)
class StoredUpload:
    record: ImageRecord
    duplicate: bool


QUOTA_WINDOW = timedelta(hours=1)


class UploadConflictError(AnnotationError):
    """The upload cannot be stored right now because of what is happening to the same image."""

    http_status = 409


def check_upload_quota(services: Services, user_id: int, files: int) -> None:
    """Refuse (429) `files` more uploads when the user would pass UPLOADS_PER_HOUR in the last hour.

    Counted from the images table (uploaded_by, uploaded_at), which every web instance shares; duplicates
    store nothing and do not count.
    """
    limit = services.settings.uploads_per_hour
    now = utcnow()
    count, first = services.repository.uploads_since(user_id, now - QUOTA_WINDOW)
    if count + files <= limit:
        return
    wait = (first + QUOTA_WINDOW - now).total_seconds() if first and files <= limit else QUOTA_WINDOW.total_seconds()
    minutes = max(1, math.ceil(wait / 60))
    raise TooManyRequestsError(
        f"You may upload {limit} images an hour and have uploaded {count} in the last hour: "
        f"try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        wait,
    )


def check_upload(services: Services, filename: str | None, data: bytes) -> CheckedUpload:
    """Inspect the bytes; raises a 400/413/415 error naming the file when they are refused."""
    name = clean_filename(filename)
    settings = services.settings
    try:
        info = inspect_upload(data, settings.max_upload_bytes, settings.max_image_pixels)
    except AnnotationError as error:
        raise type(error)(f"{name}: {error.message}") from error
    return CheckedUpload(name, data, info, hashlib.sha256(data).hexdigest())


def store_upload(services: Services, upload: CheckedUpload, uploaded_by: int | None = None) -> StoredUpload:
    """Store a checked upload as `uploaded_by`'s (a user id), or return the image that already holds the
    same bytes."""
    existing = services.repository.find_by_sha256(upload.sha256)
    if existing is not None:
        return StoredUpload(_already_there(services, existing, upload), duplicate=True)
    key = f"uploads/{uuid.uuid4().hex}.{upload.info.extension}"
    new = NewImage(
        key,
        upload.filename,
        upload.info.mime_type,
        len(upload.data),
        upload.info.width,
        upload.info.height,
        upload.sha256,
        uploaded_by,
    )
    try:
        # The row comes first: the object's creation event must always find it.
        record = services.repository.insert(new)
    except sa.exc.IntegrityError:  # the same bytes arrived concurrently; the other upload won
        existing = services.repository.find_by_sha256(upload.sha256)
        if existing is None:
            raise
        return StoredUpload(_already_there(services, existing, upload), duplicate=True)
    try:
        services.originals.save(key, upload.data, upload.info.mime_type)
    except AnnotationError:
        services.repository.delete(record.id)  # no row without its object
        raise
    if services.announcer is not None:  # on AWS, S3 itself announces the new object
        services.announcer.uploaded(record.id)
    log.info("stored upload image=%s key=%s size=%d", record.id, key, len(upload.data), extra={"image_id": record.id})
    return StoredUpload(record, duplicate=False)


def _already_there(services: Services, record: ImageRecord, upload: CheckedUpload) -> ImageRecord:
    """The image that holds these bytes, out of the trash, with its original written again if the upload
    that made its row died before the original was stored (the same bytes are the same original)."""
    record = _out_of_the_trash(services, record)
    if services.originals.exists(record.original_key):
        return record
    services.originals.save(record.original_key, upload.data, upload.info.mime_type)
    services.repository.reset_for_retry(record.id, services.settings.job_lease_seconds)
    if services.announcer is not None:
        services.announcer.uploaded(record.id)
    log.warning("stored the missing original again image=%s", record.id, extra={"image_id": record.id})
    return services.repository.get(record.id)


def _out_of_the_trash(services: Services, record: ImageRecord) -> ImageRecord:
    """The same bytes uploaded again bring an image in the trash back (its id, caption and edits with it)."""
    if record.deleted_at is None:
        return record
    if not services.repository.restore([record.id]):
        raise UploadConflictError("The same photo is being deleted from the trash right now; upload it again soon.")
    return services.repository.get(record.id)


def clean_filename(filename: str | None) -> str:
    """Keep the user's file name as data only: last path part, no control characters, at most 255."""
    raw = filename or ""
    name = PureWindowsPath(PurePosixPath(raw).name).name
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    return name[:255] or "untitled"
