"""The first admin: created (or brought in line with ADMIN_PASSWORD) when the web app starts."""

from __future__ import annotations

import logging

from annotation_core.accounts import check_username
from annotation_core.bootstrap import Services
from annotation_core.errors import AccountError, ConfigurationError
from annotation_core.passwords import Passwords, random_password
from annotation_core.records import Role

log = logging.getLogger(__name__)


def ensure_admin(services: Services, passwords: Passwords) -> None:
    """Make ADMIN_USERNAME an enabled admin whose password is ADMIN_PASSWORD.

    Without ADMIN_PASSWORD an existing account is left alone; a missing one is created with a random
    password, logged once (never stored in clear) and to be changed at the first sign-in.
    """
    settings = services.settings
    try:
        username = check_username(settings.admin_username)
    except AccountError as error:
        raise ConfigurationError(f"ADMIN_USERNAME={settings.admin_username!r} is not valid: {error.message}") from error
    if settings.admin_password:
        _configured_admin(services, passwords, username, settings.admin_password)
        return
    if services.users.find_by_name(username) is not None:
        return
    password = random_password()
    try:
        services.users.create(username, passwords.hash(password), Role.ADMIN, must_change_password=True)
    except AccountError:  # another web process created it at the same moment, and logged its password
        return
    log.warning(
        "Created the admin account %r with the password %s (shown only this once): sign in at /login and "
        "choose your own. Set ADMIN_PASSWORD to choose it yourself.",
        username,
        password,
    )


def _configured_admin(services: Services, passwords: Passwords, username: str, password: str) -> None:
    try:
        password_hash = passwords.hash(password)
    except AccountError as error:
        raise ConfigurationError(f"ADMIN_PASSWORD is not valid: {error.message}") from error
    users = services.users
    admin = users.find_by_name(username)
    if admin is None:
        try:
            users.create(username, password_hash, Role.ADMIN)
            log.info("created the admin account %r with ADMIN_PASSWORD", username)
            return
        except AccountError:  # created by another web process meanwhile
            admin = users.get_by_name(username)
    if not passwords.verify(users.password_hash(admin.id), password):
        users.set_password(admin.id, password_hash)
        log.info("set the password of %r to ADMIN_PASSWORD", username)
    if admin.role is not Role.ADMIN:
        users.set_role(admin.id, Role.ADMIN)
    if admin.disabled:
        users.set_disabled(admin.id, False)
