"""Password hashing with Argon2id (argon2-cffi), its cost taken from the settings, and random passwords."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from annotation_core.errors import AccountError
from annotation_core.settings import Settings

MIN_LENGTH = 10
MAX_LENGTH = 256


class Passwords:
    """Hash and verify passwords; the cost is PASSWORD_HASH_TIME_COST and PASSWORD_HASH_MEMORY_KIB."""

    def __init__(self, settings: Settings):
        self._hasher = PasswordHasher(
            time_cost=settings.password_hash_time_cost, memory_cost=settings.password_hash_memory_kib
        )
        # Verified when the user name is unknown, so a wrong name costs as long as a wrong password.
        self._decoy = self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        """Hash a password a user chose, refusing one too short or too long."""
        if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
            raise AccountError(f"A password must have {MIN_LENGTH} to {MAX_LENGTH} characters.")
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no stored hash, spend the same time and say False."""
        try:
            return self._hasher.verify(stored_hash or self._decoy, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def random_password() -> str:
    """A password to hand over once: 20 characters from a 64-letter alphabet (120 bits)."""
    return secrets.token_urlsafe(15)
