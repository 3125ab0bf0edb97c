"""The JSON API."""

from __future__ import annotations

from flask import Blueprint

from annotation_core.errors import ImageNotFoundError
from web_app.presenters import image_json
from web_app.services import services

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/image_status/<int:image_id>")
def image_status(image_id: int):
    record = services().repository.find(image_id)
    if record is None:
        raise ImageNotFoundError(f"No image has id {image_id}.")
    return image_json(record, services())
