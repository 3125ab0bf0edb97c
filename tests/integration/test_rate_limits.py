"""Fixed-window counters in the database (what limits failed sign-ins): counting, a window that ends, keys kept
apart, long keys, and the first hit of a key counted by two web instances at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from annotation_core.rate_limits import RateCounters
from annotation_core.schema import rate_limits

WINDOW = timedelta(minutes=15)


@pytest.fixture
def counters(engine) -> RateCounters:
    return RateCounters(engine)


def end_the_window(engine: sa.Engine, key: str) -> None:
    """Move the key's window back so that it ended a second ago (instead of waiting for it)."""
    row = rate_limits.c
    with engine.begin() as conn:
        started = conn.execute(sa.select(row.window_started_at).where(row.rate_key == key[:191])).scalar_one()
        ended = started - WINDOW - timedelta(seconds=1)
        conn.execute(rate_limits.update().where(row.rate_key == key[:191]).values(window_started_at=ended))


def test_hits_are_counted_and_a_key_at_its_limit_waits_for_the_rest_of_the_window(counters):
    assert [counters.hit("sign-in:user:alice", WINDOW) for _ in range(3)] == [1, 2, 3]

    assert counters.blocked_for("sign-in:user:alice", 4, WINDOW) == 0.0
    wait = counters.blocked_for("sign-in:user:alice", 3, WINDOW)
    assert WINDOW.total_seconds() - 60 < wait <= WINDOW.total_seconds()
    assert counters.blocked_for("sign-in:user:nobody-yet", 1, WINDOW) == 0.0


def test_a_key_whose_window_has_ended_counts_again_from_one(engine, counters):
    for _ in range(3):
        counters.hit("sign-in:user:alice", WINDOW)
    end_the_window(engine, "sign-in:user:alice")
    assert counters.blocked_for("sign-in:user:alice", 3, WINDOW) == 0.0, "the lockout is over"

    assert counters.hit("sign-in:user:alice", WINDOW) == 1, "a new window"
    assert counters.blocked_for("sign-in:user:alice", 2, WINDOW) == 0.0
    assert counters.hit("sign-in:user:alice", WINDOW) == 2, "counted in the new window"
    assert counters.blocked_for("sign-in:user:alice", 2, WINDOW) > WINDOW.total_seconds() - 60, "it lasts a window"


def test_counting_restarting_and_clearing_one_key_leave_the_others_alone(engine, counters):
    counters.hit("sign-in:user:alice", WINDOW)
    for _ in range(2):
        counters.hit("sign-in:address:203.0.113.7", WINDOW)
    end_the_window(engine, "sign-in:user:alice")

    assert counters.hit("sign-in:user:alice", WINDOW) == 1
    counters.clear("sign-in:user:alice")

    assert counters.blocked_for("sign-in:user:alice", 1, WINDOW) == 0.0
    assert counters.hit("sign-in:address:203.0.113.7", WINDOW) == 3, "the address keeps its count and window"
    assert counters.blocked_for("sign-in:address:203.0.113.7", 3, WINDOW) > WINDOW.total_seconds() - 60


def test_a_key_longer_than_the_column_is_counted_and_cleared_under_its_first_191_characters(counters):
    key = "sign-in:user:" + "x" * 300  # a user name typed into the form has no length limit

    assert [counters.hit(key, WINDOW), counters.hit(key + "y", WINDOW)] == [1, 2]
    assert counters.blocked_for(key, 2, WINDOW) > 0
    counters.clear(key)
    assert counters.blocked_for(key, 1, WINDOW) == 0.0


def test_a_first_hit_another_web_instance_counted_meanwhile_is_added_to(engine, counters):
    key = "sign-in:address:198.51.100.1"
    raced = []

    def the_other_instance_inserts_first(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO RATE_LIMITS") and not raced:
            raced.append(key)
            RateCounters(engine).hit(key, WINDOW)

    sa.event.listen(engine, "before_cursor_execute", the_other_instance_inserts_first)
    try:
        assert counters.hit(key, WINDOW) == 2
    finally:
        sa.event.remove(engine, "before_cursor_execute", the_other_instance_inserts_first)
    assert raced == [key]
    assert counters.blocked_for(key, 2, WINDOW) > 0
