"""Who is calling: a browser session (Flask-Login), a bearer token, HTTP Basic on the token routes, or in
AUTH_MODE=public the built-in local admin. The request's `current_user` is one of the classes below."""

from __future__ import annotations

import ipaddress
import time

from flask import Flask, current_app, request, session
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, login_user

from annotation_core.accounts import User
from annotation_core.errors import ConfigurationError
from annotation_core.passwords import Passwords
from annotation_core.records import Role
from annotation_core.settings import Settings
from annotation_core.sign_in import authenticate
from web_app.permissions import BASIC_AUTH_ROUTES, ROLE_PERMISSIONS, Permission, Scope
from web_app.services import services

SIGNED_IN_AT = "signed_in_at"


class SignedInUser(UserMixin):
    """An account acting through a session (`via="session"`), a token or Basic credentials."""

    def __init__(self, user: User, via: str):
        self.user = user
        self.via = via
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self.must_change_password = user.must_change_password
        self.permissions = ROLE_PERMISSIONS[user.role]

    def get_id(self) -> str:
        # The epoch is part of the session's identity: raising it (new password, disabled) ends every session.
        return f"{self.user.id}:{self.user.session_epoch}"

    @property
    def is_active(self) -> bool:
        return not self.user.disabled

    @property
    def sent_credentials(self) -> bool:
        """Authenticated by the request's own Authorization header (no cookie, so no CSRF to check)."""
        return self.via != "session"


class LocalAdmin(AnonymousUserMixin):
    """AUTH_MODE=public: every visitor, an admin without an account (uploads belong to nobody)."""

    id = None
    username = "local admin"
    role = Role.ADMIN
    via = "public"
    must_change_password = False
    sent_credentials = False
    permissions = {p: s for p, s in ROLE_PERMISSIONS[Role.ADMIN].items() if p is not Permission.ACCOUNT}
    is_authenticated = True
    is_anonymous = False


class Anonymous(AnonymousUserMixin):
    id = None
    via = None
    must_change_password = False
    sent_credentials = False
    permissions: dict[Permission, Scope] = {}


def passwords() -> Passwords:
    return current_app.extensions["passwords"]


def client_address() -> str:
    return request.remote_addr or "unknown"


def sign_in(user: User) -> None:
    """Start a fresh session for `user` (nothing of the anonymous session carries over)."""
    session.clear()
    login_user(SignedInUser(user, "session"))
    session[SIGNED_IN_AT] = time.time()
    session.permanent = True  # the cookie expires with the sign-in (SESSION_HOURS)


def init_app(app: Flask, settings: Settings) -> None:
    """Identify callers with Flask-Login; in AUTH_MODE=public everyone is the local admin."""
    manager = LoginManager(app)
    if settings.public_mode:
        manager.anonymous_user = LocalAdmin
        manager.user_loader(lambda _key: None)  # no accounts: every visitor is the LocalAdmin
        return
    manager.anonymous_user = Anonymous
    manager.user_loader(_from_session)
    manager.request_loader(_from_header)


def _from_session(key: str) -> SignedInUser | None:
    if request.authorization is not None:  # a request with credentials is judged by them alone
        return None
    user_id, _, epoch = key.partition(":")
    user = services().users.find(int(user_id)) if user_id.isdigit() else None
    if user is None or user.disabled or str(user.session_epoch) != epoch:
        return None
    signed_in_at = session.get(SIGNED_IN_AT, 0)
    if time.time() - signed_in_at > services().settings.session_hours * 3600:
        return None
    return SignedInUser(user, "session")


def _from_header(_request) -> SignedInUser | None:
    credentials = request.authorization
    if credentials is None:
        return None
    if credentials.type == "bearer":
        user_id = services().tokens.user_id_for(credentials.token or "")
        user = services().users.find(user_id) if user_id is not None else None
        return SignedInUser(user, "token") if user is not None and not user.disabled else None
    if credentials.type == "basic" and request.endpoint in BASIC_AUTH_ROUTES:
        username, password = credentials.username or "", credentials.password or ""
        return SignedInUser(authenticate(services(), passwords(), username, password, client_address()), "basic")
    return None


def refuse_public_mode_off_loopback(settings: Settings) -> None:
    """AUTH_MODE=public makes every visitor an admin: allowed only where no other machine can be a visitor."""
    if not settings.public_mode:
        return
    host = settings.bind_host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            f"AUTH_MODE=public lets every visitor act as an admin, so it is allowed only when the app listens on "
            f"a loopback address (BIND_HOST=127.0.0.1, ::1 or localhost); BIND_HOST={settings.bind_host} can be "
            "reached from other machines. Set AUTH_MODE=password (the default) or BIND_HOST=127.0.0.1."
        )
    if settings.proxy_count:
        raise ConfigurationError(
            f"AUTH_MODE=public lets every visitor act as an admin, and PROXY_COUNT={settings.proxy_count} says "
            "requests arrive through a proxy, from other machines. Set AUTH_MODE=password (the default)."
        )
