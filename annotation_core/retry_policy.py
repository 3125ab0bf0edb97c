"""How long a job waits before its next attempt: exponential backoff with jitter, Retry-After honoured."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime


def retry_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    random_fraction: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...).

    The backoff doubles with each attempt from `base`; "equal jitter" picks a point between half and all of
    it, so jobs that failed together do not come back together. A service's Retry-After is a floor; `cap`
    bounds everything, so no job waits longer than that between attempts.
    """
    backoff = min(cap, base * 2 ** max(0, attempt - 1))
    delay = backoff / 2 + random_fraction() * backoff / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


def throttle_delay(
    waited: float,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    random_fraction: Callable[[], float] = random.random,
) -> float:
    """Seconds a rate-limited job waits, having waited `waited` seconds since it was queued.

    The service's Retry-After says when it will have room: wait that long, plus up to half again so the
    jobs it refused together do not return together. Without one, rate-limited attempts are not counted,
    so the backoff grows with the time already spent waiting instead: half of it, which compounds like an
    exponential backoff of base 1.5 without a counter.
    """
    if retry_after is not None:
        return min(cap, retry_after * (1 + random_fraction() / 2))
    return retry_delay(1, base=max(base, waited / 2), cap=cap, random_fraction=random_fraction)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
