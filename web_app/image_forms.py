"""The pages' forms: retry an image's jobs, retry every failed image, move an image to the trash and back
(CSRF field `csrf_token`)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from annotation_core.caption_edits import check_edit, parse_tag_list, save_edit
from annotation_core.errors import ImageNotFoundError
from annotation_core.image_actions import regenerate_caption, retry_failed, retry_image
from annotation_core.trash import move_to_trash, restore_from_trash
from web_app.access import owner_filter
from web_app.permissions import Permission
from web_app.services import services

bp = Blueprint("image_forms", __name__, url_prefix="/images")


@bp.post("/<int:image_id>/retry")
def retry(image_id: int):
    """Put failed, stuck and waiting jobs back to pending and show the page again; it follows them live."""
    _record, reset = retry_image(services(), image_id)
    if reset:
        flash(f"Retrying the {' and '.join(str(job) for job in reset)}.", "success")
    else:
        flash("Nothing had failed; unfinished jobs were announced again.", "info")
    return redirect(url_for("pages.image_detail", image_id=image_id))


@bp.post("/<int:image_id>/edit")
def edit(image_id: int):
    """Store what a person wrote; an emptied field (or "Use the model's") goes back to the model's answer."""
    form = request.form
    reverted = set(form.getlist("revert"))
    body = {
        "caption": None if "caption" in reverted else form.get("caption", "").strip() or None,
        "alt_text": None if "alt_text" in reverted else form.get("alt_text", "").strip() or None,
        "tags": None if "tags" in reverted else parse_tag_list(form.get("tags", "")),
    }
    record = services().repository.get(image_id)
    shown = record.annotation()
    unchanged = {"caption": shown.caption, "alt_text": shown.alt_text, "tags": list(shown.tags)}
    changed = {name: value for name, value in body.items() if name in reverted or value != unchanged[name]}
    if changed:
        save_edit(services().repository, image_id, check_edit(changed))
        flash("Saved your changes.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("pages.image_detail", image_id=image_id))


@bp.post("/<int:image_id>/caption")
def regenerate(image_id: int):
    """Ask the model again; the page follows the job live."""
    regenerate_caption(services(), image_id)
    flash("Asking for a new caption; your own edits stay.", "success")
    return redirect(url_for("pages.image_detail", image_id=image_id))


@bp.post("/retry-failed")
def retry_all_failed():
    """Retry every failed image's failed jobs (a member's: their own), then show the unfinished photos."""
    reset = retry_failed(services(), uploaded_by=owner_filter(Permission.CHANGE_IMAGES))
    count = len({image_id for image_id, _job in reset})
    flash(f"Retrying {count} photo{'s' if count != 1 else ''}." if count else "No photo had failed.", "success")
    return redirect(url_for("pages.gallery", status="processing"))


@bp.post("/<int:image_id>/delete")
def delete(image_id: int):
    """Move the image to the trash, then go back to the gallery, whose message offers to undo it."""
    record = services().repository.get(image_id)
    move_to_trash(services(), [image_id])  # the gate has checked the caller may change this image
    flash({"text": f"Moved {record.filename} to the trash.", "restore": image_id}, "trashed")
    return redirect(url_for("pages.gallery"))


@bp.post("/<int:image_id>/restore")
def restore(image_id: int):
    """Bring the image back from the trash and show it."""
    if not restore_from_trash(services(), [image_id], uploaded_by=owner_filter(Permission.CHANGE_IMAGES)):
        raise ImageNotFoundError(f"No image with id {image_id} is in the trash.")
    flash("Restored it from the trash.", "success")
    return redirect(url_for("pages.image_detail", image_id=image_id))
