"""The settings page of the signed-in user: change their password; create, list and revoke API tokens."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from annotation_core.errors import AccountError, AuthenticationError
from annotation_core.sign_in import authenticate
from web_app.authentication import client_address, passwords, sign_in
from web_app.services import services

bp = Blueprint("account", __name__, url_prefix="/settings")


@bp.get("")
def settings():
    return render_template("settings.html", tokens=services().tokens.of_user(current_user.id), new_token=None)


@bp.post("/password")
def change_password():
    """Check the current password, store the new one, and end every other session of this user."""
    form = request.form
    # Checked like a sign-in (and counted): a borrowed session must not be a way to guess the password.
    try:
        authenticate(services(), passwords(), current_user.username, form.get("current_password", ""), client_address())
    except AuthenticationError as error:
        raise AccountError("The current password is wrong.") from error
    if form.get("new_password", "") != form.get("repeat_password", ""):
        raise AccountError("The two new passwords differ.")
    user = services().users.set_password(current_user.id, passwords().hash(form.get("new_password", "")))
    if current_user.via == "session":
        sign_in(user)  # this session goes on with the new epoch; every other one has ended
    flash("Your password is changed; you are signed out everywhere else.", "success")
    return redirect(url_for("account.settings"))


@bp.post("/tokens")
def create_token():
    """Create a token and show it once, on this answer only."""
    created = services().tokens.create(current_user.id, request.form.get("name", ""))
    page = render_template("settings.html", tokens=services().tokens.of_user(current_user.id), new_token=created)
    return page, 201, {"Cache-Control": "no-store"}


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    if services().tokens.revoke(current_user.id, token_id):
        flash("The token is revoked: requests with it are refused from now on.", "success")
    else:
        flash("You have no such token.", "error")
    return redirect(url_for("account.settings"))
