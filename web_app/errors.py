"""One error shape: `{"error": "..."}` for JSON clients, a flashed message or error page for browsers."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, flash, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from annotation_core.errors import AnnotationError, AuthenticationError, TooManyRequestsError
from web_app.negotiation import wants_json
from web_app.permissions import BASIC_AUTH_ROUTES

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
UNAVAILABLE = "The database is unavailable right now; nothing was changed. Try again in a minute."


def error_body(message: str) -> dict[str, str]:
    return {"error": message}


REALM = 'realm="Image Annotation"'


def render_error(message: str, status: int, headers: dict[str, str] | None = None):
    """Answer an error in the form the client asked for."""
    if wants_json():
        return error_body(message), status, headers or {}
    form_page = _form_page() if status not in (401, 403) else None  # refusals are shown, not flashed
    if form_page is not None:
        flash(message, "error")
        return redirect(url_for(form_page))
    return render_template("error.html", message=message, status=status), status, headers or {}


def _form_page() -> str | None:
    """The page whose form made this request, to show the error on (None: answer with an error page)."""
    if request.method != "POST":
        return None
    if request.endpoint == "uploads.upload":
        return "pages.index"
    return {"account": "account.settings", "admin": "admin.users"}.get(request.blueprint)


def unauthorized(message: str):
    """401 with the challenges this route accepts: a bearer token, and on the token routes a password."""
    challenges = [f"Bearer {REALM}"]
    if request.endpoint in BASIC_AUTH_ROUTES:
        challenges.append(f'Basic {REALM}, charset="UTF-8"')
    response = make_response(render_error(message, 401))
    for challenge in challenges:
        response.headers.add("WWW-Authenticate", challenge)
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(AnnotationError)
    def annotation_error(error: AnnotationError):
        if error.http_status >= 500:
            log.error("request failed: %s", error.message)
        if isinstance(error, AuthenticationError):
            return unauthorized(error.message)
        if isinstance(error, TooManyRequestsError):
            return render_error(error.message, 429, {"Retry-After": str(max(1, round(error.retry_after)))})
        if error.http_status == 503:  # storage or the event bus briefly away
            return render_error(error.message, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        return render_error(error.message, error.http_status)

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
        return render_error(UNAVAILABLE, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        allowed = dict(error.get_headers()).get("Allow")  # a 405 says which methods the path takes
        return render_error(error.description or error.name, error.code or 500, {"Allow": allowed} if allowed else None)
