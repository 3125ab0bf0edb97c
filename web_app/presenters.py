"""How an image record looks to the outside world: the JSON the API returns and the pages show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for

from annotation_core.bootstrap import Services
from annotation_core.records import Annotation, ImageRecord, Job, JobState
from web_app.access import can
from web_app.permissions import Permission

PHOTO_FACTS = (
    "camera_make",
    "camera_model",
    "lens_model",
    "exposure_seconds",
    "f_number",
    "iso",
    "focal_length_mm",
    "has_location",
)
LOCATION_FACTS = ("latitude", "longitude")  # only for those who may see the original, which holds them anyway


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def image_json(record: ImageRecord, services: Services) -> dict[str, Any]:
    """The status document of one image (`/api/image_status/<id>` and the gallery's live updates).

    `original_url`, `latitude` and `longitude` are null for a caller who may not see originals (a viewer).
    """
    has_thumbnail = record.thumbnail_status is JobState.COMPLETED and record.thumbnail_key
    shown, suggestion = record.annotation(), record.suggestion()
    has_preview = has_thumbnail and record.preview_key
    may_see_original = can(Permission.VIEW_ORIGINALS)
    document = {
        "id": record.id,
        "status": record.status.value,
        "thumbnail_status": record.thumbnail_status.value,
        "caption_status": record.caption_status.value,
        "caption": shown.caption,
        "alt_text": shown.alt_text,
        "tags": list(shown.tags),
        "text_in_image": shown.text_in_image,
        "edited": record.edited_fields(),
        "edited_at": iso(record.edited_at),
        "suggestion": None if suggestion is None else _annotation_json(suggestion),
        "caption_model": record.caption_model,
        "caption_provenance": _provenance(record),
        "thumbnail_url": services.thumbnails.url(record.thumbnail_key) if has_thumbnail else None,
        "thumbnail_width": record.thumbnail_width,
        "thumbnail_height": record.thumbnail_height,
        "preview_url": services.thumbnails.url(record.preview_key) if has_preview else None,
        "preview_width": record.preview_width,
        "preview_height": record.preview_height,
        "placeholder": record.placeholder,
        "original_url": services.originals.url(record.original_key) if may_see_original else None,
        "download_url": services.originals.url(record.original_key, record.filename) if may_see_original else None,
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
        "uploaded_by": record.uploaded_by,
        # Photo facts from the EXIF; taken_at is the camera clock's local time, so it has no "Z".
        "taken_at": record.taken_at.isoformat(timespec="seconds") if record.taken_at else None,
        **{name: getattr(record, name) for name in PHOTO_FACTS},
        **{name: getattr(record, name) if may_see_original else None for name in LOCATION_FACTS},
    }
    for job in Job:
        progress = record.progress(job)
        document[f"{job}_state_text"] = progress.describe(services.settings.job_max_attempts)
        document[f"{job}_next_attempt_at"] = iso(progress.next_attempt_at)
    return document


def _annotation_json(annotation: Annotation) -> dict[str, Any]:
    return {
        "caption": annotation.caption,
        "alt_text": annotation.alt_text,
        "tags": list(annotation.tags),
        "text_in_image": annotation.text_in_image,
    }


def _provenance(record: ImageRecord) -> dict[str, Any] | None:
    """Who wrote the model's caption, how, and what it cost; None before the first caption."""
    if record.captioned_at is None:
        return None
    return {
        "provider": record.caption_provider,
        "model": record.caption_model,
        "prompt_version": record.caption_prompt_version,
        "language": record.caption_language,
        "input_tokens": record.caption_input_tokens,
        "output_tokens": record.caption_output_tokens,
        "latency_ms": record.caption_latency_ms,
        "generated_at": iso(record.captioned_at),
    }


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
