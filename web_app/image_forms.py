"""The pages' forms: retry an image's jobs, retry every failed image, delete an image (CSRF field `csrf_token`)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from annotation_core.image_actions import delete_image, retry_failed, retry_image
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


@bp.post("/retry-failed")
def retry_all_failed():
    """Retry every failed image's failed jobs (a member's: their own), then show the unfinished photos."""
    reset = retry_failed(services(), uploaded_by=owner_filter(Permission.CHANGE_IMAGES))
    count = len({image_id for image_id, _job in reset})
    flash(f"Retrying {count} photo{'s' if count != 1 else ''}." if count else "No photo had failed.", "success")
    return redirect(url_for("pages.gallery", status="processing"))


@bp.post("/<int:image_id>/delete")
def delete(image_id: int):
    """Delete the image, its original and its thumbnail, then go back to the gallery."""
    record = delete_image(services(), image_id)
    flash(f"Deleted {record.filename}.", "success")
    return redirect(url_for("pages.gallery"))
