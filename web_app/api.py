"""The JSON API: list and search images, read one, retry, regenerate, edit; move many to the trash and back, or
delete one for good; and its OpenAPI file."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from flask import Blueprint, request

from annotation_core.caption_edits import check_edit, save_edit
from annotation_core.image_actions import (
    delete_image,
    regenerate_caption,
    regenerate_captions,
    retry_failed,
    retry_image,
)
from annotation_core.media_types import IMAGE_TYPES
from annotation_core.trash import move_to_trash, restore_from_trash
from web_app.access import owner_filter
from web_app.listing import MAX_LIMIT, BadQueryError, load_page, parse_ids, parse_query
from web_app.permissions import Permission
from web_app.presenters import image_json
from web_app.services import services

bp = Blueprint("api", __name__, url_prefix="/api")

STATIC = Path(__file__).parent / "static"


@bp.get("/images")
def list_images():
    """Newest first by `sort` (uploaded or taken); `q` searches captions and file names, `status` filters,
    `cursor` continues."""
    page = load_page(parse_query(request.args))
    return {"images": [image_json(record, services()) for record in page.records], "next_cursor": page.next_cursor}


@bp.get("/images/<int:image_id>")
def get_image(image_id: int):
    return image_json(services().repository.get(image_id), services())


@bp.get("/image_status/<int:image_id>")
def image_status(image_id: int):
    """The same document as `/api/images/<id>`; the URL uploads answer with."""
    return get_image(image_id)


@bp.get("/image_status")
def image_statuses():
    """Several images' status documents at once (`?ids=3,5,9`); ids that no longer exist are left out."""
    records = services().repository.find_many(parse_ids(request.args.get("ids", "")))
    return {"images": [image_json(record, services()) for record in records]}


@bp.post("/images/<int:image_id>/retry")
def retry(image_id: int):
    """Put the image's failed, stuck and waiting jobs back to pending, due now; 202 with what was reset."""
    record, reset = retry_image(services(), image_id)
    return {"image": image_json(record, services()), "retried": [str(job) for job in reset]}, 202


@bp.post("/images/retry")
def retry_many():
    """Retry failed jobs: of the images in `{"ids": [...]}`, or of every failed image (no body, or no ids);
    a member's own images only."""
    ids = _ids_in_body(required=False)
    reset = retry_failed(services(), ids, uploaded_by=owner_filter(Permission.CHANGE_IMAGES))
    jobs = {"thumbnail": 0, "caption": 0}
    for _image_id, job in reset:
        jobs[str(job)] += 1
    return {"images": sorted({image_id for image_id, _job in reset}, reverse=True), "jobs": jobs}, 202


@bp.post("/images/delete")
def trash_many():
    """Move the images in `{"ids": [...]}` to the trash (a member's own only); undo with /api/images/restore."""
    moved = move_to_trash(services(), _ids_in_body(), uploaded_by=owner_filter(Permission.CHANGE_IMAGES))
    return {"images": moved}


@bp.post("/images/restore")
def restore_many():
    """Bring the images in `{"ids": [...]}` back from the trash, as they were (a member's own only)."""
    return {
        "images": restore_from_trash(services(), _ids_in_body(), uploaded_by=owner_filter(Permission.CHANGE_IMAGES))
    }


@bp.post("/images/caption")
def regenerate_many():
    """Ask the model again for the captions of the images in `{"ids": [...]}` (a member's own only); those
    being written right now are listed as busy."""
    queued, busy = regenerate_captions(services(), _ids_in_body(), uploaded_by=owner_filter(Permission.CHANGE_IMAGES))
    return {"images": queued, "busy": busy}, 202


def _ids_in_body(*, required: bool = True) -> list[int] | None:
    """The `ids` of a JSON body `{"ids": [3, 5, 9]}` (1 to MAX_LIMIT image ids); None when optional and absent."""
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        hint = "" if required else ", or nothing to retry every failed image"
        raise BadQueryError(f'Send a JSON object: {{"ids": [3, 5, 9]}}{hint}.')
    ids = body.get("ids")
    if ids is None and not required:
        return None
    if not (isinstance(ids, list) and 0 < len(ids) <= MAX_LIMIT and all(type(i) is int and 0 < i < 2**63 for i in ids)):
        raise BadQueryError(f"ids must be a list of 1 to {MAX_LIMIT} image ids.")
    return ids


@bp.patch("/images/<int:image_id>")
def edit(image_id: int):
    """Store a person's caption, alt text or tags beside the model's; null goes back to the model's."""
    edit = check_edit(request.get_json(silent=True))
    return image_json(save_edit(services().repository, image_id, edit), services())


@bp.post("/images/<int:image_id>/caption")
def regenerate(image_id: int):
    """Ask the model again for the caption of any image (people's edits stay); 202, or 409 while it runs."""
    return {"image": image_json(regenerate_caption(services(), image_id), services())}, 202


@bp.delete("/images/<int:image_id>")
def delete(image_id: int):
    """Delete the row, the original and the thumbnail; 204, then 404 for this id."""
    delete_image(services(), image_id)
    return "", 204


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API (kept in web_app/static/openapi.json, packaged with the app)."""
    return openapi_document()


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The file, with the accepted upload types filled in from the core's one list."""
    document = json.loads((STATIC / "openapi.json").read_text(encoding="utf-8"))
    form = document["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    form["encoding"] = {"file": {"contentType": ", ".join(image_type.mime_type for image_type in IMAGE_TYPES)}}
    return document
