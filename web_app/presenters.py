"""How an image record looks to the outside world: the JSON the API returns and the pages show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for

from annotation_core.bootstrap import Services
from annotation_core.records import ImageRecord, Job, JobState

PHOTO_FACTS = (
    "camera_make",
    "camera_model",
    "lens_model",
    "exposure_seconds",
    "f_number",
    "iso",
    "focal_length_mm",
    "has_location",
    "latitude",
    "longitude",
)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def image_json(record: ImageRecord, services: Services) -> dict[str, Any]:
    """The status document of one image (`/api/image_status/<id>` and the gallery's live updates)."""
    has_thumbnail = record.thumbnail_status is JobState.COMPLETED and record.thumbnail_key
    has_preview = has_thumbnail and record.preview_key
    document = {
        "id": record.id,
        "status": record.status.value,
        "thumbnail_status": record.thumbnail_status.value,
        "caption_status": record.caption_status.value,
        "caption": record.caption,
        "caption_model": record.caption_model,
        "thumbnail_url": services.thumbnails.url(record.thumbnail_key) if has_thumbnail else None,
        "thumbnail_width": record.thumbnail_width,
        "thumbnail_height": record.thumbnail_height,
        "preview_url": services.thumbnails.url(record.preview_key) if has_preview else None,
        "preview_width": record.preview_width,
        "preview_height": record.preview_height,
        "placeholder": record.placeholder,
        "original_url": services.originals.url(record.original_key),
        "thumbnail_error": record.thumbnail_error,
        "caption_error": record.caption_error,
        "thumbnail_attempts": record.thumbnail_attempts,
        "caption_attempts": record.caption_attempts,
        "filename": record.filename,
        "mime_type": record.mime_type,
        "width": record.width,
        "height": record.height,
        "size_bytes": record.size_bytes,
        "uploaded_at": iso(record.uploaded_at),
        "updated_at": iso(record.updated_at),
        "status_url": url_for("api.image_status", image_id=record.id),
        "detail_url": url_for("pages.image_detail", image_id=record.id),
        "max_attempts": services.settings.job_max_attempts,
        # Photo facts from the EXIF; taken_at is the camera clock's local time, so it has no "Z".
        "taken_at": record.taken_at.isoformat(timespec="seconds") if record.taken_at else None,
        **{name: getattr(record, name) for name in PHOTO_FACTS},
    }
    for job in Job:
        progress = record.progress(job)
        document[f"{job}_state_text"] = progress.describe(services.settings.job_max_attempts)
        document[f"{job}_next_attempt_at"] = iso(progress.next_attempt_at)
    return document


def exposure_text(image: dict[str, Any]) -> str | None:
    """ "1/250 s · f/1.8 · ISO 64 · 6.9 mm" from the document's exposure facts (whichever are known)."""
    parts = []
    if image["exposure_seconds"]:
        seconds = image["exposure_seconds"]
        parts.append(f"1/{round(1 / seconds)} s" if seconds < 0.5 else f"{seconds:g} s")
    if image["f_number"]:
        parts.append(f"f/{image['f_number']:g}")
    if image["iso"]:
        parts.append(f"ISO {image['iso']}")
    if image["focal_length_mm"]:
        parts.append(f"{image['focal_length_mm']:g} mm")
    return " · ".join(parts) or None


def human_size(size_bytes: int) -> str:
    """A byte count as people read it: 512 bytes, 3.4 KiB, 12.0 MiB."""
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    size = float(size_bytes)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"
