"""What an admin does to accounts (the admin page and `flask users …` share it): add, change the role,
disable or enable, reset the password. The last enabled admin can be neither demoted nor disabled."""

from __future__ import annotations

from annotation_core.accounts import User, check_role
from annotation_core.bootstrap import Services
from annotation_core.errors import AccountError
from annotation_core.passwords import Passwords, random_password
from annotation_core.records import Role


def add_user(
    services: Services, passwords: Passwords, username: str, role: str, password: str | None = None
) -> tuple[User, str | None]:
    """Create an account; without `password` one is made up (returned, to hand over once) and must be
    changed at the first sign-in. Returns the user and the made-up password, if any."""
    made_up = None if password else random_password()
    user = services.users.create(
        username, passwords.hash(password or made_up), check_role(role), must_change_password=made_up is not None
    )
    return user, made_up


def change_role(services: Services, user_id: int, role: str, acting_user_id: int | None = None) -> User:
    new_role = check_role(role)
    user = services.users.get(user_id)
    if user.role is Role.ADMIN and new_role is not Role.ADMIN:
        _keep_an_admin(services, user, acting_user_id, "demoted")
    return services.users.set_role(user_id, new_role)


def set_disabled(services: Services, user_id: int, disabled: bool, acting_user_id: int | None = None) -> User:
    """Disable (sessions end, tokens refused) or enable an account."""
    user = services.users.get(user_id)
    if disabled and user.role is Role.ADMIN and not user.disabled:
        _keep_an_admin(services, user, acting_user_id, "disabled")
    return services.users.set_disabled(user_id, disabled)


def reset_password(services: Services, passwords: Passwords, user_id: int) -> tuple[User, str]:
    """A made-up password (returned, to hand over once) that the user must change; their sessions end."""
    password = random_password()
    user = services.users.set_password(user_id, passwords.hash(password), must_change=True)
    return user, password


def _keep_an_admin(services: Services, user: User, acting_user_id: int | None, change: str) -> None:
    if user.id == acting_user_id:
        raise AccountError(f"You cannot have yourself {change}: ask another admin.")
    if services.users.count_admins() <= 1:
        raise AccountError(f"{user.username} is the last admin and cannot be {change}.")
