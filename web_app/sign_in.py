"""Sign in (`/login`, a form with CSRF) and sign out (`POST /logout`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user

from annotation_core.errors import AuthenticationError, TooManyRequestsError
from annotation_core.sign_in import authenticate
from web_app.authentication import client_address, passwords, sign_in
from web_app.services import services

bp = Blueprint("sign_in", __name__)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another host, nor `//host`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in target):
        return url_for("pages.index")
    return target


@bp.get("/login")
def login():
    """The sign-in form; someone already signed in (or AUTH_MODE=public) goes on at once."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_post():
    form = request.form
    try:
        user = authenticate(
            services(), passwords(), form.get("username", ""), form.get("password", ""), client_address()
        )
    except (AuthenticationError, TooManyRequestsError) as error:
        headers = {"Retry-After": str(round(error.retry_after))} if isinstance(error, TooManyRequestsError) else {}
        page = render_template(
            "login.html", next=form.get("next", ""), error=error.message, username=form.get("username")
        )
        return page, error.http_status, headers
    sign_in(user)
    if user.must_change_password:
        flash("Welcome! Choose your own password before you go on.", "info")
        return redirect(url_for("account.settings"))
    return redirect(safe_next(form.get("next")))


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("sign_in.login"))
