"""`flask --app web_app.app users …`: manage accounts from a shell or a script.

flask --app web_app.app users create alice --role member     # prints a made-up password, once
flask --app web_app.app users list
flask --app web_app.app users set-role alice viewer
flask --app web_app.app users disable alice                   # and: enable alice
flask --app web_app.app users reset-password alice            # prints a new made-up password, once
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup

from annotation_core import account_admin
from annotation_core.bootstrap import Services
from annotation_core.errors import AccountError
from annotation_core.passwords import Passwords
from annotation_core.records import Role

users = AppGroup("users", help="Manage user accounts (the admin page does the same).")
ROLES = click.Choice([role.value for role in Role])


def _services() -> Services:
    return current_app.extensions["annotation"]


def _passwords() -> Passwords:
    return current_app.extensions["passwords"]


def _user_id(username: str) -> int:
    return _services().users.get_by_name(username).id


@users.command("create")
@click.argument("username")
@click.option("--role", type=ROLES, default=Role.MEMBER.value, show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of making one up.")
def create(username: str, role: str, password_stdin: bool) -> None:
    """Add a user; without --password-stdin a made-up password is printed once and must be changed."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with _account_errors():
        user, made_up = account_admin.add_user(_services(), _passwords(), username, role, password)
    click.echo(f"created {user.username} ({user.role})")
    if made_up:
        click.echo(f"password: {made_up}  (shown once; to be changed at the first sign-in)")


@users.command("list")
def list_users() -> None:
    """Every account: name, role, and whether it is disabled or must choose a password."""
    for user in _services().users.all():
        notes = [
            note
            for flag, note in ((user.disabled, "disabled"), (user.must_change_password, "new password due"))
            if flag
        ]
        click.echo(f"{user.username}\t{user.role}\t{', '.join(notes) or 'active'}")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLES)
def set_role(username: str, role: str) -> None:
    with _account_errors():
        user = account_admin.change_role(_services(), _user_id(username), role)
    click.echo(f"{user.username} is now {user.role}")


@users.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Sign the user out everywhere and refuse their sign-ins and tokens."""
    with _account_errors():
        user = account_admin.set_disabled(_services(), _user_id(username), True)
    click.echo(f"{user.username} is disabled")


@users.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    with _account_errors():
        user = account_admin.set_disabled(_services(), _user_id(username), False)
    click.echo(f"{user.username} is enabled")


@users.command("reset-password")
@click.argument("username")
def reset_password(username: str) -> None:
    """Print a made-up password, once; the user must change it at the next sign-in."""
    with _account_errors():
        user, password = account_admin.reset_password(_services(), _passwords(), _user_id(username))
    click.echo(f"password of {user.username}: {password}  (shown once; to be changed at the next sign-in)")


@contextmanager
def _account_errors() -> Iterator[None]:
    """Turn an AccountError into a one-line message and exit status 1."""
    try:
        yield
    except AccountError as error:
        raise click.ClickException(error.message) from error
