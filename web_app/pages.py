"""HTML pages: upload (with the live gallery under it), the searchable gallery, and one image's detail."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from annotation_core.caption_fields import MAX_ALT_TEXT, MAX_CAPTION
from annotation_core.media_types import IMAGE_TYPES, SUPPORTED_NAMES
from annotation_core.records import Job, JobState
from web_app.days import day_groups
from web_app.listing import DEFAULT_LIMIT, GalleryQuery, load_page, parse_query
from web_app.presenters import exposure_text, human_size, image_json
from web_app.services import services

bp = Blueprint("pages", __name__)

LATEST_ON_UPLOAD_PAGE = 24


@bp.app_template_filter("human_size")
def human_size_filter(size_bytes: int) -> str:
    return human_size(size_bytes)


@bp.app_template_filter("exposure")
def exposure_filter(image: dict) -> str | None:
    return exposure_text(image)


@bp.app_context_processor
def upload_context() -> dict:
    """The one list of accepted types, for the picker, the upload tray's check and the hint; and a way for the
    base template to count captions waiting for a provider (only the pages that show photos ask)."""
    return {
        "upload_types": {
            "mime_types": ",".join(image_type.mime_type for image_type in IMAGE_TYPES),
            "names": SUPPORTED_NAMES,
            "max_bytes": services().settings.max_upload_bytes,
        },
        "captions_waiting": lambda: services().repository.waiting_for_setup(Job.CAPTION),
    }


@bp.get("/")
def index():
    """Upload page; the newest photos below it fill in live while uploads run."""
    page = load_page(GalleryQuery(limit=LATEST_ON_UPLOAD_PAGE))
    images = [image_json(record, services()) for record in page.records]
    return render_template(
        "index.html",
        settings=services().settings,
        accept=",".join([t.mime_type for t in IMAGE_TYPES] + [f".{t.extension}" for t in IMAGE_TYPES]),
        type_names=SUPPORTED_NAMES,
        images=images,
        days=day_groups(images),
        next_cursor=page.next_cursor,
    )


@bp.get("/gallery")
def gallery():
    """Newest first by upload or date taken (`sort`), searchable (`q`), filterable (`status`), paged by `cursor`."""
    query = parse_query(request.args)
    page = load_page(query)
    images = [image_json(record, services()) for record in page.records]
    return render_template(
        "gallery.html",
        images=images,
        days=day_groups(images),
        next_cursor=page.next_cursor,
        query=query,
        first_page=query.first_page,
        # Links to the newest and the next page keep the search, filter, sort and page size.
        filters={
            "q": query.text or None,
            "status": query.status.value if query.status else None,
            "sort": query.sort if query.sort != "uploaded" else None,
            "limit": query.limit if query.limit != DEFAULT_LIMIT else None,
        },
    )


@bp.get("/images/<int:image_id>")
def image_detail(image_id: int):
    """The preview scaled to the screen (linking to the original), everything we know about it, retry and delete."""
    record = services().repository.get(image_id)
    uploader = services().users.find(record.uploaded_by) if record.uploaded_by is not None else None
    return render_template(
        "detail.html",
        image=image_json(record, services()),
        record=record,
        uploader=uploader.username if uploader else "no one (before accounts existed)",
        jobs=list(Job),
        limits={"caption": MAX_CAPTION, "alt_text": MAX_ALT_TEXT},
        can_retry=any(record.job_state(job) is JobState.FAILED or record.progress(job).waiting_to_retry for job in Job),
    )
