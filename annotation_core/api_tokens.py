"""API tokens: created with a name, shown once, stored as SHA-256 hashes, revoked by deleting them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from annotation_core.errors import AccountError
from annotation_core.job_store import utcnow
from annotation_core.schema import api_tokens

PREFIX = "iat_"  # makes a leaked token easy to recognise (and to search for in logs and repositories)
LAST_USED_GRANULARITY = timedelta(minutes=1)  # at most one write per token and minute


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    """A token just created: `secret` is the only copy of the token there will ever be."""

    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    """A token has 256 random bits, so a plain SHA-256 (no salt, no stretching) cannot be reversed."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenRepository:
    """Create, list, revoke and look up the API tokens of users."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def create(self, user_id: int, name: str) -> NewToken:
        name = name.strip()  # both callers pass text: the form field, or a JSON "name" checked to be a string
        if not 1 <= len(name) <= 100:
            raise AccountError("A token needs a name of 1 to 100 characters (say where it will be used).")
        secret = PREFIX + secrets.token_urlsafe(32)
        values = {"user_id": user_id, "name": name, "token_hash": digest(secret), "created_at": utcnow()}
        with self.engine.begin() as conn:
            token_id = conn.execute(api_tokens.insert().values(values)).inserted_primary_key[0]
        return NewToken(ApiToken(token_id, user_id, name, values["created_at"], None), secret)

    def of_user(self, user_id: int) -> list[ApiToken]:
        statement = _SELECT_TOKENS.where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id.desc())
        with self.engine.connect() as conn:
            return [ApiToken(*row) for row in conn.execute(statement)]

    def revoke(self, user_id: int, token_id: int) -> bool:
        """Delete one of the user's tokens; False if they have none with that id."""
        statement = api_tokens.delete().where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def user_id_for(self, secret: str) -> int | None:
        """Whose token this is (None if no such token), noting when it was last used."""
        if not secret.startswith(PREFIX):
            return None
        hashed = digest(secret)
        with self.engine.connect() as conn:
            row = conn.execute(_SELECT_TOKENS.where(api_tokens.c.token_hash == hashed)).first()
        if row is None:
            return None
        token = ApiToken(*row)
        now = utcnow()
        if token.last_used_at is None or token.last_used_at < now - LAST_USED_GRANULARITY:
            with self.engine.begin() as conn:
                conn.execute(api_tokens.update().where(api_tokens.c.id == token.id).values(last_used_at=now))
        return token.user_id


_SELECT_TOKENS = sa.select(
    api_tokens.c.id, api_tokens.c.user_id, api_tokens.c.name, api_tokens.c.created_at, api_tokens.c.last_used_at
)
