"""thumbnail_lambda: an uploaded original (or a due thumbnail job) → its thumbnail, recorded on the row."""

from __future__ import annotations

import functools
from pathlib import PurePosixPath

from annotation_core.bootstrap import Services
from annotation_core.lambda_entry import job_lambda_handler
from annotation_core.lifecycle import JobInput, JobOutput, Work
from annotation_core.records import Job
from annotation_core.settings import Settings
from annotation_core.storage import IMMUTABLE, ObjectStore
from lambda_functions.thumbnail_lambda.thumbnailer import make_thumbnail


def create_thumbnail(job: JobInput, *, settings: Settings, store: ObjectStore) -> JobOutput:
    """Scale the original into the configured box and store it in the thumbnail bucket."""
    thumbnail = make_thumbnail(job.original, settings.thumbnail_box, settings.max_image_pixels)
    key = thumbnail_key(job.record.original_key)
    store.save(key, thumbnail.data, thumbnail.content_type, IMMUTABLE)
    return JobOutput({"thumbnail_key": key}, undo=functools.partial(store.delete, key))


def thumbnail_work(services: Services) -> Work:
    return functools.partial(create_thumbnail, settings=services.settings, store=services.thumbnails)


def thumbnail_key(original_key: str) -> str:
    """`uploads/<uuid>.png` → `thumbnails/<uuid>.jpg`: one thumbnail per original, found without the row."""
    return f"thumbnails/{PurePosixPath(original_key).stem}.jpg"


lambda_handler = job_lambda_handler(Job.THUMBNAIL, thumbnail_work)
