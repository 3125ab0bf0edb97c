"""thumbnail_lambda: S3 'Object Created' → a JPEG thumbnail in the thumbnail bucket, recorded on the row."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from annotation_core.bootstrap import Services, lambda_services
from annotation_core.records import ImageRecord, Job
from annotation_core.tasks import JobOutput, run_job
from lambda_functions.thumbnail_lambda.thumbnailer import make_thumbnail


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    return handle(event, lambda_services())


def handle(event: Mapping[str, Any], services: Services) -> dict[str, int]:
    """Make the thumbnail of every image the event announces (the local bus calls this too)."""
    return run_job(Job.THUMBNAIL, event, services, create_thumbnail)


def create_thumbnail(services: Services, record: ImageRecord, original: bytes) -> JobOutput:
    """Scale the original into the configured box and store it in the thumbnail bucket."""
    settings = services.settings
    thumbnail = make_thumbnail(original, settings.thumbnail_box, settings.max_image_pixels)
    key = thumbnail_key(record.original_key)
    services.thumbnails.save(key, thumbnail.data, thumbnail.content_type)
    return JobOutput({"thumbnail_key": key}, undo=functools.partial(services.thumbnails.delete, key))


def thumbnail_key(original_key: str) -> str:
    """`uploads/<uuid>.png` → `thumbnails/<uuid>.jpg`: one thumbnail per original, found without the row."""
    return f"thumbnails/{PurePosixPath(original_key).stem}.jpg"
