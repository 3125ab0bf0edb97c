"""The admin page: add users (with a password, or one made up and shown once), change roles, disable and
enable accounts, reset passwords. `flask users …` does the same from a shell."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from annotation_core import account_admin
from annotation_core.records import Role
from web_app.authentication import passwords
from web_app.services import services

bp = Blueprint("admin", __name__, url_prefix="/admin/users")


@bp.get("")
def users():
    return render_template("admin_users.html", users=services().users.all(), roles=list(Role), handed_over=None)


@bp.post("")
def create_user():
    """Add an account; without a password one is made up, shown on this answer once, and must be changed."""
    form = request.form
    user, password = account_admin.add_user(
        services(), passwords(), form.get("username", ""), form.get("role", ""), form.get("password") or None
    )
    flash(f"Added {user.username} as {user.role}.", "success")
    return _page_showing(user.username, password, 201)


@bp.post("/<int:user_id>/role")
def set_role(user_id: int):
    user = account_admin.change_role(services(), user_id, request.form.get("role", ""), acting_user_id=current_user.id)
    flash(f"{user.username} is now {user.role}.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/<int:user_id>/disable")
def disable(user_id: int):
    """Disable the account: its sessions end and its tokens stop working (it can be enabled again)."""
    user = account_admin.set_disabled(services(), user_id, True, acting_user_id=current_user.id)
    flash(f"{user.username} is disabled: signed out everywhere, tokens refused.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/<int:user_id>/enable")
def enable(user_id: int):
    user = account_admin.set_disabled(services(), user_id, False, acting_user_id=current_user.id)
    flash(f"{user.username} may sign in again.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/<int:user_id>/password")
def reset_password(user_id: int):
    """Give the user a new password, made up and shown once; they choose their own at the next sign-in."""
    user, password = account_admin.reset_password(services(), passwords(), user_id)
    flash(f"{user.username} has a new password and is signed out everywhere.", "success")
    return _page_showing(user.username, password, 200)


def _page_showing(username: str, password: str | None, status: int):
    """The admin page with a made-up password on it, once; never cached."""
    handed_over = {"username": username, "password": password} if password else None
    page = render_template("admin_users.html", users=services().users.all(), roles=list(Role), handed_over=handed_over)
    return page, status, {"Cache-Control": "no-store"}
