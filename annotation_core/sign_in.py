"""Check a user name and password, with failed attempts limited per account and per client address."""

from __future__ import annotations

import math
from datetime import timedelta

from annotation_core.accounts import User
from annotation_core.bootstrap import Services
from annotation_core.errors import AuthenticationError, TooManyRequestsError
from annotation_core.passwords import Passwords


def authenticate(services: Services, passwords: Passwords, username: str, password: str, address: str) -> User:
    """The user these credentials belong to; raises AuthenticationError (401) or TooManyRequestsError (429).

    After LOGIN_MAX_FAILURES wrong passwords for one user name, or LOGIN_MAX_FAILURES_PER_ADDRESS from one
    address, within LOGIN_LOCKOUT_MINUTES, further attempts are refused until that window ends; the password
    is then not even checked, so guessing on is pointless. Unknown names count like known ones.
    """
    settings = services.settings
    window = timedelta(minutes=settings.login_lockout_minutes)
    counters = services.rate_counters
    account_key, address_key = f"sign-in:user:{username.strip().lower()}", f"sign-in:address:{address}"
    wait = max(
        counters.blocked_for(account_key, settings.login_max_failures, window),
        counters.blocked_for(address_key, settings.login_max_failures_per_address, window),
    )
    if wait:
        minutes = math.ceil(wait / 60)
        raise TooManyRequestsError(
            f"Too many failed sign-ins: try again in {minutes} minute{'s' if minutes != 1 else ''}.", wait
        )
    user = services.users.find_by_name(username) if username.strip() else None
    stored = services.users.password_hash(user.id) if user else None
    if not passwords.verify(stored, password):
        counters.hit(account_key, window)
        counters.hit(address_key, window)
        raise AuthenticationError("Wrong user name or password.")
    if user.disabled:
        raise AuthenticationError("This account is disabled: ask an admin to enable it.")
    counters.clear(account_key)
    return user
