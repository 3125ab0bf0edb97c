"""Who may do what: each role's permissions, and the one table of what every route needs.

To add a route, add one line to ROUTES: its endpoint and the permission its caller needs. A route missing
from the table is refused for everyone (and a test fails until it is listed).
"""

from __future__ import annotations

import enum

from annotation_core.records import Role


class Permission(enum.StrEnum):
    """What a route needs; the values complete the sentence "A viewer may not …"."""

    PUBLIC = "public"  # anyone, signed in or not
    ACCOUNT = "manage an account"  # any signed-in user: their own password and API tokens
    VIEW = "see images"  # gallery, thumbnails, captions, job states
    VIEW_ORIGINALS = "see originals"
    UPLOAD = "upload images"
    CHANGE_IMAGES = "change images"  # retry, delete, edit or regenerate captions: own images, or all
    MANAGE_USERS = "manage users"


class Scope(enum.Enum):
    """How far a permission reaches for images: those the user uploaded, or all."""

    OWN = "own"
    ALL = "all"


_READ = {Permission.ACCOUNT: Scope.ALL, Permission.VIEW: Scope.ALL}
_WRITE = {**_READ, Permission.VIEW_ORIGINALS: Scope.ALL, Permission.UPLOAD: Scope.ALL}

ROLE_PERMISSIONS: dict[Role, dict[Permission, Scope]] = {
    Role.VIEWER: _READ,
    Role.MEMBER: {**_WRITE, Permission.CHANGE_IMAGES: Scope.OWN},
    Role.ADMIN: {**_WRITE, Permission.CHANGE_IMAGES: Scope.ALL, Permission.MANAGE_USERS: Scope.ALL},
}

ROUTES: dict[str, Permission] = {
    "static": Permission.PUBLIC,
    "health.health": Permission.PUBLIC,
    "health.ready": Permission.PUBLIC,
    "api.openapi": Permission.PUBLIC,
    "sign_in.login": Permission.PUBLIC,
    "sign_in.login_post": Permission.PUBLIC,
    "sign_in.logout": Permission.PUBLIC,
    "pages.index": Permission.VIEW,
    "pages.gallery": Permission.VIEW,
    "pages.image_detail": Permission.VIEW,
    "api.list_images": Permission.VIEW,
    "api.get_image": Permission.VIEW,
    "api.image_status": Permission.VIEW,
    "api.image_statuses": Permission.VIEW,
    "media.media": Permission.VIEW,  # an original also needs VIEW_ORIGINALS (the view knows which bucket)
    "uploads.upload": Permission.UPLOAD,
    # With Scope.OWN, a route's `image_id` must be the caller's; routes over many images filter by owner.
    "api.retry": Permission.CHANGE_IMAGES,
    "api.retry_many": Permission.CHANGE_IMAGES,
    "api.delete": Permission.CHANGE_IMAGES,
    "api.edit": Permission.CHANGE_IMAGES,
    "api.regenerate": Permission.CHANGE_IMAGES,
    "api.regenerate_many": Permission.CHANGE_IMAGES,
    "api.trash_many": Permission.CHANGE_IMAGES,
    "api.restore_many": Permission.CHANGE_IMAGES,
    "image_forms.restore": Permission.CHANGE_IMAGES,
    "image_forms.retry": Permission.CHANGE_IMAGES,
    "image_forms.retry_all_failed": Permission.CHANGE_IMAGES,
    "image_forms.delete": Permission.CHANGE_IMAGES,
    "image_forms.edit": Permission.CHANGE_IMAGES,
    "image_forms.regenerate": Permission.CHANGE_IMAGES,
    "account.settings": Permission.ACCOUNT,
    "account.change_password": Permission.ACCOUNT,
    "account.create_token": Permission.ACCOUNT,
    "account.revoke_token": Permission.ACCOUNT,
    "tokens_api.list_tokens": Permission.ACCOUNT,
    "tokens_api.create_token": Permission.ACCOUNT,
    "tokens_api.revoke_token": Permission.ACCOUNT,
    "admin.users": Permission.MANAGE_USERS,
    "admin.create_user": Permission.MANAGE_USERS,
    "admin.set_role": Permission.MANAGE_USERS,
    "admin.disable": Permission.MANAGE_USERS,
    "admin.enable": Permission.MANAGE_USERS,
    "admin.reset_password": Permission.MANAGE_USERS,
}

# Routes that also take HTTP Basic credentials, so a script can get its first token with a password.
BASIC_AUTH_ROUTES = frozenset({"tokens_api.list_tokens", "tokens_api.create_token"})

# What a user who must choose a new password may still do.
BEFORE_NEW_PASSWORD = frozenset({"account.settings", "account.change_password", "sign_in.logout"})


def scope_of(permissions: dict[Permission, Scope], need: Permission) -> Scope | None:
    """How far `need` reaches for a holder of `permissions` (None: not at all)."""
    return Scope.ALL if need is Permission.PUBLIC else permissions.get(need)
