"""User accounts: the record, and every SQL statement about users as domain verbs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from annotation_core.errors import AccountError
from annotation_core.job_store import utcnow
from annotation_core.records import Role
from annotation_core.schema import users

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class User:
    """One account as stored (the password hash stays in the repository's hands)."""

    id: int
    username: str
    role: Role
    disabled: bool
    must_change_password: bool
    session_epoch: int
    created_at: datetime


def check_username(username: str) -> str:
    """The user name as stored; raises AccountError when it cannot be one."""
    name = username.strip()
    if not USERNAME.match(name):
        raise AccountError(
            "A user name has 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit."
        )
    return name


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError as error:
        raise AccountError(f"The role must be one of {', '.join(Role)} (got {role[:20]!r}).") from error


class UserRepository:
    """Create, find, list and change accounts; user names are unique, compared as typed."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def create(self, username: str, password_hash: str, role: Role, *, must_change_password: bool = False) -> User:
        """Add an account; raises AccountError when the name is taken."""
        now = utcnow()
        values = {
            "username": check_username(username),
            "password_hash": password_hash,
            "role": role,
            "must_change_password": must_change_password,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.engine.begin() as conn:
                user_id = conn.execute(users.insert().values(values)).inserted_primary_key[0]
        except sa.exc.IntegrityError as error:
            raise AccountError(f"The user name {values['username']!r} is taken.") from error
        return self.get(user_id)

    def find(self, user_id: int) -> User | None:
        return self._one(users.c.id == user_id)

    def get(self, user_id: int) -> User:
        user = self.find(user_id)
        if user is None:
            raise AccountError(f"No user has id {user_id}.")
        return user

    def find_by_name(self, username: str) -> User | None:
        return self._one(users.c.username == username.strip())

    def get_by_name(self, username: str) -> User:
        user = self.find_by_name(username)
        if user is None:
            raise AccountError(f"No user is called {username.strip()!r}.")
        return user

    def password_hash(self, user_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar()

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            return [User(*row) for row in conn.execute(_SELECT_USERS.order_by(users.c.username))]

    def count_admins(self) -> int:
        """Enabled admins: the last one may not be demoted or disabled."""
        statement = sa.select(sa.func.count()).where(users.c.role == Role.ADMIN, users.c.disabled == sa.false())
        with self.engine.connect() as conn:
            return conn.execute(statement).scalar_one()

    def set_password(self, user_id: int, password_hash: str, *, must_change: bool = False) -> User:
        """Store a new hash and sign the user out everywhere (their sessions carry the old epoch)."""
        return self._update(
            user_id,
            password_hash=password_hash,
            must_change_password=must_change,
            session_epoch=users.c.session_epoch + 1,
        )

    def set_role(self, user_id: int, role: Role) -> User:
        return self._update(user_id, role=role)

    def set_disabled(self, user_id: int, disabled: bool) -> User:
        """Disable (signing the user out everywhere; their tokens stop working) or enable an account."""
        return self._update(user_id, disabled=disabled, session_epoch=users.c.session_epoch + 1)

    def _update(self, user_id: int, **values) -> User:
        with self.engine.begin() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(**values, updated_at=utcnow()))
        return self.get(user_id)

    def _one(self, condition: sa.ColumnElement[bool]) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(_SELECT_USERS.where(condition)).first()
        return User(*row) if row else None


_SELECT_USERS = sa.select(
    users.c.id,
    users.c.username,
    users.c.role,
    users.c.disabled,
    users.c.must_change_password,
    users.c.session_epoch,
    users.c.created_at,
)
