"""thumbnail_lambda: an uploaded original (or a due thumbnail job) → its renditions and photo facts, on the row."""

from __future__ import annotations

import functools
from pathlib import PurePosixPath

from annotation_core.bootstrap import Services
from annotation_core.lambda_entry import JobLambdaHandler
from annotation_core.lifecycle import JobInput, JobOutput, Work
from annotation_core.records import Job
from annotation_core.settings import Settings
from annotation_core.storage import IMMUTABLE, ObjectStore
from lambda_functions.thumbnail_lambda.thumbnailer import FORMATS, make_renditions


def create_renditions(job: JobInput, *, settings: Settings, store: ObjectStore) -> JobOutput:
    """Make the grid image, preview and placeholder from one decode, store the images, record them and the
    photo's facts; renditions of older settings that the row named are removed once the new ones exist."""
    made = make_renditions(
        job.original,
        grid_box=settings.thumbnail_box,
        preview_size=settings.preview_size,
        image_format=settings.thumbnail_format,
        max_pixels=settings.max_image_pixels,
        keep_location=settings.keep_location,
    )
    grid_key, preview_key = rendition_keys(job.record.original_key, settings)
    store.save(grid_key, made.grid.data, made.grid.content_type, IMMUTABLE)
    store.save(preview_key, made.preview.data, made.preview.content_type, IMMUTABLE)
    for old in {job.record.thumbnail_key, job.record.preview_key} - {None, grid_key, preview_key}:
        store.delete(old)
    columns = {
        "thumbnail_key": grid_key,
        "thumbnail_width": made.grid.width,
        "thumbnail_height": made.grid.height,
        "preview_key": preview_key,
        "preview_width": made.preview.width,
        "preview_height": made.preview.height,
        "placeholder": made.placeholder,
        **made.facts.columns(),
    }
    return JobOutput(columns, undo=functools.partial(_delete_all, store, (grid_key, preview_key)))


def thumbnail_work(services: Services) -> Work:
    return functools.partial(create_renditions, settings=services.settings, store=services.thumbnails)


def rendition_keys(original_key: str, settings: Settings) -> tuple[str, str]:
    """`uploads/<uuid>.heic` → `thumbnails/<uuid>/grid-256x256.webp` and `thumbnails/<uuid>/preview-1440.webp`.

    The settings are part of the name: objects are cached as immutable, so a rendition made differently must
    live at a new key.
    """
    stem, extension = PurePosixPath(original_key).stem, FORMATS[settings.thumbnail_format][2]
    width, height = settings.thumbnail_box
    return (
        f"thumbnails/{stem}/grid-{width}x{height}.{extension}",
        f"thumbnails/{stem}/preview-{settings.preview_size}.{extension}",
    )


def _delete_all(store: ObjectStore, keys: tuple[str, ...]) -> None:
    for key in keys:
        store.delete(key)


lambda_handler = JobLambdaHandler(Job.THUMBNAIL, thumbnail_work)
