"""Fixed-window counters in the metadata database, so every web instance counts together.

Used for failed sign-ins per account and per client address: a database the app already has (SQLite
locally, RDS on AWS) is a shared store that costs nothing more, and failed sign-ins are rare enough that
one small write each is nothing.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from annotation_core.job_store import utcnow
from annotation_core.schema import rate_limits


class RateCounters:
    """`hit` counts an event under a key; `blocked_for` says how long a key that reached its limit waits."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def hit(self, key: str, window: timedelta) -> int:
        """Count one event in the key's current window (a new window if the last one is over); the new count."""
        now = utcnow()
        row = rate_limits.c
        key = key[:191]
        with self.engine.begin() as conn:
            counted = conn.execute(
                rate_limits.update()
                .where(row.rate_key == key, row.window_started_at > now - window)
                .values(hits=row.hits + 1)
            )
            if counted.rowcount == 1:
                return conn.execute(sa.select(row.hits).where(row.rate_key == key)).scalar_one()
            restarted = conn.execute(
                rate_limits.update().where(row.rate_key == key).values(hits=1, window_started_at=now)
            )
            if restarted.rowcount == 1:
                return 1
        try:
            with self.engine.begin() as conn:
                conn.execute(rate_limits.insert().values(rate_key=key, window_started_at=now, hits=1))
            return 1
        except sa.exc.IntegrityError:  # another instance counted the key's first event meanwhile
            return self.hit(key, window)

    def blocked_for(self, key: str, limit: int, window: timedelta) -> float:
        """Seconds until the key may try again: 0 unless `limit` events were counted in its current window."""
        now = utcnow()
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(rate_limits.c.window_started_at, rate_limits.c.hits).where(
                    rate_limits.c.rate_key == key[:191]
                )
            ).first()
        if found is None or found.hits < limit:
            return 0.0
        return max(0.0, (found.window_started_at + window - now).total_seconds())

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(rate_limits.delete().where(rate_limits.c.rate_key == key[:191]))
