"""Serve objects of the local-folder buckets (embedded mode); on AWS, presigned S3 URLs are used instead.

Signed-in users who may see images get thumbnails; originals only those who may see originals, and with
`?download=1` as an attachment under the file name they were uploaded with.
"""

from __future__ import annotations

from flask import Blueprint, abort, request, send_file

from annotation_core.errors import StorageError
from annotation_core.media_types import content_type_for_key
from annotation_core.storage import LocalFolderStore, attachment
from web_app.access import require
from web_app.permissions import Permission
from web_app.services import services

bp = Blueprint("media", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.get("/media/<bucket>/<path:key>")
def media(bucket: str, key: str):
    stores = {store.bucket: store for store in (services().originals, services().thumbnails)}
    store = stores.get(bucket)
    if not isinstance(store, LocalFolderStore):
        abort(404)
    if store is services().originals:
        require(Permission.VIEW_ORIGINALS)
    try:
        path = store.path(key)
    except StorageError:
        abort(404)
    if not path.is_file():
        abort(404)
    # Keys are unique and objects never change, so caches may keep them for good.
    response = send_file(path, mimetype=content_type_for_key(key), max_age=ONE_YEAR, conditional=True)
    response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.args.get("download") and store is services().originals:
        # Saved under the name it was uploaded with, as S3 does for a link signed with ResponseContentDisposition.
        record = services().repository.find_by_original_key(key)
        if record is None:
            abort(404)
        response.headers["Content-Disposition"] = attachment(record.filename)
    return response
