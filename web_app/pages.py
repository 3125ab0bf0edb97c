"""HTML pages: the upload form and the gallery."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from annotation_core.records import JobState
from web_app.presenters import image_json
from web_app.services import services

bp = Blueprint("pages", __name__)

PAGE_SIZE = 48


@bp.get("/")
def index():
    return render_template("index.html", max_upload_mb=services().settings.max_upload_mb)


@bp.get("/gallery")
def gallery():
    before = request.args.get("before", type=int)
    records = services().repository.page(before_id=before, limit=PAGE_SIZE + 1)
    older = records[PAGE_SIZE - 1].id if len(records) > PAGE_SIZE else None
    images = [image_json(record, services()) for record in records[:PAGE_SIZE]]
    return render_template("gallery.html", images=images, older=older, JobState=JobState)
