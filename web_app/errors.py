"""One error shape: `{"error": "..."}` for JSON clients, a flashed message or error page for browsers."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, flash, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from annotation_core.errors import AnnotationError
from web_app.negotiation import wants_json

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
UNAVAILABLE = "The database is unavailable right now; nothing was changed. Try again in a minute."


def error_body(message: str) -> dict[str, str]:
    return {"error": message}


def render_error(message: str, status: int):
    """Answer an error in the form the client asked for."""
    if wants_json():
        return error_body(message), status
    if request.method == "POST" and request.endpoint == "uploads.upload":
        flash(message, "error")
        return redirect(url_for("pages.index"))
    return render_template("error.html", message=message, status=status), status


def init_app(app: Flask) -> None:
    @app.errorhandler(AnnotationError)
    def annotation_error(error: AnnotationError):
        response = make_response(render_error(error.message, error.http_status))
        if error.http_status >= 500:
            log.error("request failed: %s", error.message)
        if error.http_status == 503:  # storage or the event bus briefly away
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge):
        limit = app.extensions["annotation"].settings.max_upload_mb
        return render_error(f"The upload is too large: each image may be at most {limit} MiB.", 413)

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError):
        log.warning("refused %s %s: %s", request.method, request.path, error.description)
        return render_error(f"{error.description} Reload the page and try again.", 400)

    @app.errorhandler(sa.exc.DBAPIError)
    def database_unavailable(error: sa.exc.DBAPIError):
        # Lost connections, refused logins and timeouts say "try later"; a bug in a statement is a 500.
        if not (error.connection_invalidated or isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)):
            raise error
        log.error("database unavailable for %s %s: %s", request.method, request.path, error.orig)
        response = make_response(render_error(UNAVAILABLE, 503))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        response = make_response(render_error(error.description or error.name, error.code or 500))
        allowed = dict(error.get_headers()).get("Allow")
        if allowed:  # a 405 says which methods the path takes
            response.headers["Allow"] = allowed
        return response
