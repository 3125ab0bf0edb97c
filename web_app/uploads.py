"""`POST /upload`: one or more files in the field `file`; every file is checked before any is stored."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from annotation_core.errors import ImageTooLargeError, InvalidImageError
from annotation_core.uploads import check_upload, check_upload_quota, clean_filename, store_upload
from web_app.negotiation import wants_json
from web_app.services import services

bp = Blueprint("uploads", __name__)


@bp.post("/upload")
def upload():
    files = _sent_files(services().settings.max_upload_bytes)
    if current_user.id is not None:  # AUTH_MODE=public's local admin has no account to count against
        check_upload_quota(services(), current_user.id, len(files))
    checked = [check_upload(services(), filename, data) for filename, data in files]
    stored = [store_upload(services(), upload, current_user.id) for upload in checked]

    if wants_json():
        images = [
            {
                "id": result.record.id,
                "filename": result.record.filename,
                "duplicate": result.duplicate,
                "status_url": url_for("api.image_status", image_id=result.record.id),
                "detail_url": url_for("pages.image_detail", image_id=result.record.id),
            }
            for result in stored
        ]
        return {"images": images}, 202
    new = sum(not result.duplicate for result in stored)
    flash(f"Uploaded {new} image{'s' if new != 1 else ''}; thumbnails and captions are on their way.", "success")
    if len(stored) > new:
        flash(f"{len(stored) - new} already in the gallery (same file).", "info")
    return redirect(url_for("pages.gallery"))


def _sent_files(limit: int) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every file part named `file`; a part with no name or an empty one is still a
    file (stored as "untitled"), but an empty part with no name is a file picker left empty."""
    files = []
    for file in request.files.getlist("file"):
        data = file.read(limit + 1)  # never read more than one byte past the limit
        if len(data) > limit:
            raise ImageTooLargeError(f"{clean_filename(file.filename)}: the file is larger than {limit // 2**20} MiB.")
        if data or file.filename:
            files.append((file.filename, data))
    if files:
        return files
    if request.form.getlist("file"):
        raise InvalidImageError(
            "The field 'file' was sent without a file name, so it is not read as a file: send each image as a "
            "file part with a filename in a multipart/form-data body."
        )
    raise InvalidImageError("No file was sent: choose one or more images in the field 'file'.")
