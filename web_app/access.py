"""The gate every request passes: the route's permission (ROUTES), image ownership, then CSRF for cookies.

Without credentials, pages redirect to /login?next=…, and the API (and media) answer 401 with
WWW-Authenticate; a caller whose role may not gets 403. A request authenticated by its own Authorization
header (token or Basic) carries no cookie a forger could ride on, so it needs no CSRF token.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from annotation_core.errors import PermissionDeniedError
from web_app.errors import unauthorized
from web_app.negotiation import wants_json
from web_app.permissions import BEFORE_NEW_PASSWORD, ROUTES, Permission, Scope, scope_of
from web_app.services import services

log = logging.getLogger(__name__)

csrf = CSRFProtect()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def init_app(app: Flask) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked below, once the caller is known
    csrf.init_app(app)
    app.before_request(guard)
    app.context_processor(
        lambda: {"Permission": Permission, "can": can, "can_change": can_change, "change_scope": change_scope}
    )


def guard():
    """Refuse the request unless its caller may use this route (and, for cookie sessions, sent CSRF)."""
    if request.endpoint is None:  # no such route: 404 or 405 follows
        return None
    need = ROUTES.get(request.endpoint)
    if need is None:
        log.error("route %s is missing from web_app.permissions.ROUTES: refused", request.endpoint)
        raise PermissionDeniedError("This route has no access rule yet, so no one may use it.")
    if need is not Permission.PUBLIC:
        if not current_user.is_authenticated:
            return _sign_in_first()
        if current_user.must_change_password and request.endpoint not in BEFORE_NEW_PASSWORD:
            return _new_password_first()
        _check(need, request.view_args or {})
    if request.method not in SAFE_METHODS and not current_user.sent_credentials:
        csrf.protect()
    return None


def can(need: Permission) -> bool:
    """Has the caller this permission at all (for some images at least)?"""
    return scope_of(current_user.permissions, need) is not None


def can_change(uploaded_by: int | None) -> bool:
    """May the caller change (retry, delete, edit) an image uploaded by `uploaded_by`?"""
    scope = scope_of(current_user.permissions, Permission.CHANGE_IMAGES)
    return scope is Scope.ALL or (scope is Scope.OWN and uploaded_by is not None and uploaded_by == current_user.id)


def change_scope() -> str:
    """Which images the caller may change, for the pages' scripts: "all", "own" or "none"."""
    scope = scope_of(current_user.permissions, Permission.CHANGE_IMAGES)
    return "none" if scope is None else scope.value


def owner_filter(need: Permission) -> int | None:
    """For routes over many images: the user whose images they may touch, or None for all."""
    return current_user.id if scope_of(current_user.permissions, need) is Scope.OWN else None


def require(need: Permission) -> None:
    """Raise 403 unless the caller has `need` (for checks that depend on more than the route)."""
    if scope_of(current_user.permissions, need) is None:
        raise PermissionDeniedError(_refusal(need))


def _check(need: Permission, view_args: dict) -> None:
    scope = scope_of(current_user.permissions, need)
    if scope is None:
        raise PermissionDeniedError(_refusal(need))
    if scope is Scope.OWN and "image_id" in view_args:
        record = services().repository.find(view_args["image_id"])
        if record is not None and not can_change(record.uploaded_by):  # unknown ids: the view answers 404
            if record.uploaded_by is None:
                raise PermissionDeniedError("Only an admin may change images uploaded before accounts existed.")
            raise PermissionDeniedError("You may change only the images you uploaded.")


def _refusal(need: Permission) -> str:
    if current_user.via == "public":
        return "AUTH_MODE=public has no accounts: set AUTH_MODE=password to sign in and manage yours."
    return f"A {current_user.role} may not {need}."


def _sign_in_first():
    if wants_json() or request.blueprint == "media":
        return unauthorized("Sign in first: send a session cookie or an `Authorization: Bearer <token>` header.")
    return redirect(url_for("sign_in.login", next=_come_back_to()))


def _come_back_to() -> str:
    """After signing in: this page, or for a form the page it was sent from (on this site), else home."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    return referrer.path if referrer.netloc == request.host and referrer.path else "/"


def _new_password_first():
    message = "Choose your own password first (Settings)."
    if wants_json():
        raise PermissionDeniedError(message)
    flash(message, "info")
    return redirect(url_for("account.settings"))
