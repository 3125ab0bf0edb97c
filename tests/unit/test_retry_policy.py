"""How long a job waits before its next attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from annotation_core.retry_policy import parse_retry_after, retry_delay, throttle_delay

LOW, HIGH = (lambda: 0.0), (lambda: 1.0)


@pytest.mark.parametrize(("attempt", "full"), [(1, 10), (2, 20), (3, 40), (4, 80), (7, 640), (8, 900), (30, 900)])
def test_the_backoff_doubles_per_attempt_with_equal_jitter_up_to_the_cap(attempt, full):
    assert retry_delay(attempt, base=10, cap=900, random_fraction=HIGH) == full
    assert retry_delay(attempt, base=10, cap=900, random_fraction=LOW) == full / 2


def test_retry_after_is_a_floor_and_the_cap_a_ceiling():
    assert retry_delay(1, base=10, cap=900, retry_after=37, random_fraction=HIGH) == 37
    assert retry_delay(5, base=10, cap=900, retry_after=37, random_fraction=HIGH) == 160, "the backoff is longer"
    assert retry_delay(1, base=10, cap=900, retry_after=86_400) == 900


def test_a_throttle_waits_as_asked_plus_up_to_half_again():
    assert throttle_delay(0, base=10, cap=900, retry_after=2, random_fraction=LOW) == 2
    assert throttle_delay(5000, base=10, cap=900, retry_after=2, random_fraction=HIGH) == 3
    assert throttle_delay(0, base=10, cap=900, retry_after=3600) == 900


def test_without_retry_after_a_throttle_backs_off_with_the_time_already_waited():
    assert throttle_delay(0, base=10, cap=900, random_fraction=HIGH) == 10
    assert throttle_delay(100, base=10, cap=900, random_fraction=HIGH) == 50
    assert throttle_delay(100, base=10, cap=900, random_fraction=LOW) == 25
    assert throttle_delay(10_000, base=10, cap=900, random_fraction=HIGH) == 900


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits: Python reads them as 12, HTTP does not
    ],
)
def test_retry_after_in_delta_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date():
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 < parse_retry_after(future) <= 90
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past) == 0.0
