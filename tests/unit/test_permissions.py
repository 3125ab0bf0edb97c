"""The roles' permissions: each role reaches further than the one below it."""

from __future__ import annotations

from annotation_core.records import Role
from web_app.permissions import ROLE_PERMISSIONS, Permission, Scope


def test_roles_nest_viewer_within_member_within_admin():
    viewer, member, admin = (set(ROLE_PERMISSIONS[role]) for role in (Role.VIEWER, Role.MEMBER, Role.ADMIN))
    assert viewer < member < admin
    assert ROLE_PERMISSIONS[Role.MEMBER][Permission.CHANGE_IMAGES] is Scope.OWN
    assert ROLE_PERMISSIONS[Role.ADMIN][Permission.CHANGE_IMAGES] is Scope.ALL
    assert Permission.VIEW_ORIGINALS not in ROLE_PERMISSIONS[Role.VIEWER]
    assert all(Permission.PUBLIC not in granted for granted in ROLE_PERMISSIONS.values())
