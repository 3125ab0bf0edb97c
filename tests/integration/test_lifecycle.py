"""The job lifecycle against real databases: three endings, the attempt cap, rate limits that do not count,
lost claims, and targets that are not ours. Work functions here are stand-ins; the real ones have their own
tests."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from annotation_core.bootstrap import bootstrap
from annotation_core.errors import (
    CaptionProviderError,
    JobError,
    ProviderNotConfiguredError,
    RetryLaterError,
    StorageError,
)
from annotation_core.events import JobDue, ObjectCreated
from annotation_core.job_store import utcnow
from annotation_core.lifecycle import JobOutput, JobRunner, lambda_deadline, lease_deadline
from annotation_core.records import Job, JobState
from annotation_core.repository import NewImage
from annotation_core.schema import images as table
from annotation_core.settings import Settings

LEASE = 60


@pytest.fixture
def services(tmp_path, engine):
    settings = Settings(
        data_dir=str(tmp_path / "data"),
        job_lease_seconds=LEASE,
        job_max_attempts=3,
        job_retry_base_seconds=10,
        job_retry_max_seconds=600,
        job_retry_window_hours=1,
    )
    return bootstrap(settings, engine=engine)


@pytest.fixture
def runner(services) -> JobRunner:
    return JobRunner(services.repository, services.originals, services.settings, random_fraction=lambda: 1.0)


@pytest.fixture
def image(services):
    record = services.repository.insert(NewImage("uploads/a.jpg", "a.jpg", "image/jpeg", 5, 1, 1, "a" * 64))
    services.originals.save("uploads/a.jpg", b"bytes", "image/jpeg")
    return record


def run(runner, image, work, job=Job.CAPTION):
    return runner.run(JobDue(image.id, job), job, work, lease_deadline(LEASE))


def raising(error: Exception):
    def work(_job):
        raise error

    return work


def caption(text: str = "A cat."):
    return lambda job: JobOutput({"caption": text, "caption_model": "m"})


def row(services, image):
    return services.repository.get(image.id)


def test_completed_records_the_columns_and_clears_the_last_error(runner, services, image):
    seen = []

    def work(job):
        seen.append((job.record.id, job.original, job.seconds_left()))
        return JobOutput({"caption": "A cat.", "caption_model": "m"})

    assert run(runner, image, raising(RetryLaterError("slow"))) == "retry"
    services.repository.reset_for_retry(image.id, LEASE)  # due now
    assert run(runner, image, work) == "completed"
    stored = row(services, image)
    assert (stored.caption_status, stored.caption, stored.caption_error) == (JobState.COMPLETED, "A cat.", None)
    assert seen[0][:2] == (image.id, b"bytes")
    assert LEASE - 10 < seen[0][2] <= LEASE, "the work is told how long it has"


@pytest.mark.parametrize(
    "error", [JobError("Not an image."), CaptionProviderError("Check GEMINI_API_KEY.")], ids=["job", "provider"]
)
def test_a_permanent_error_fails_at_once_with_its_reason(runner, services, image, error):
    assert run(runner, image, raising(error)) == "failed"
    stored = row(services, image)
    assert (stored.caption_status, stored.caption_error, stored.caption_attempts) == (
        JobState.FAILED,
        error.message,
        1,
    )
    assert run(runner, image, caption()) == "skipped", "a failed job waits for a user's retry"


def test_an_unexpected_exception_fails_the_job_instead_of_leaving_it_processing(runner, services, image):
    assert run(runner, image, raising(KeyError("bug"))) == "failed"
    assert row(services, image).caption_error == (
        "Unexpected KeyError while making the caption: retry it, and report it if it fails again."
    )
    assert row(services, image).caption_status is JobState.FAILED


def test_a_transient_error_puts_the_job_back_with_a_backoff(runner, services, image):
    before = utcnow()
    assert run(runner, image, raising(RetryLaterError("Gemini is unavailable (503)."))) == "retry"
    stored = row(services, image)
    assert stored.caption_status is JobState.PENDING
    assert stored.caption_error == "Gemini is unavailable (503)."
    assert stored.caption_attempts == 1
    # random_fraction=1 takes the whole first backoff: the base, 10 s
    assert timedelta(seconds=9.9) < stored.caption_next_attempt_at - before < timedelta(seconds=11)
    assert stored.progress(Job.CAPTION).describe(3) == "waiting to retry (attempt 2 of 3)"
    assert run(runner, image, caption()) == "skipped", "not due yet: an early duplicate event changes nothing"


def test_retry_after_is_a_floor_and_the_cap_a_ceiling(runner, services, image):
    before = utcnow()
    run(runner, image, raising(RetryLaterError("busy", retry_after=120)))
    assert timedelta(seconds=119) < row(services, image).caption_next_attempt_at - before < timedelta(seconds=121)
    services.repository.reset_for_retry(image.id, LEASE)
    run(runner, image, raising(RetryLaterError("busy", retry_after=86_400)))
    assert row(services, image).caption_next_attempt_at - before < timedelta(seconds=601)


def test_the_attempt_cap_fails_the_job_with_the_last_reason(runner, services, image, engine):
    for attempt in (1, 2):
        assert run(runner, image, raising(StorageError(f"bucket away {attempt}"))) == "retry"
        make_due(engine, image.id, Job.CAPTION)
    assert run(runner, image, raising(RetryLaterError("Gemini did not answer within 30 s."))) == "failed"
    stored = row(services, image)
    assert stored.caption_status is JobState.FAILED
    assert stored.caption_attempts == 3
    assert stored.caption_error == "Gave up after 3 attempts: Gemini did not answer within 30 s."


def test_rate_limits_do_not_use_up_attempts(runner, services, image, engine):
    for _ in range(10):
        assert run(runner, image, raising(RetryLaterError("429", retry_after=1, throttled=True))) == "retry"
        make_due(engine, image.id, Job.CAPTION)
    assert row(services, image).caption_attempts == 0
    assert run(runner, image, caption()) == "completed"
    assert row(services, image).caption_attempts == 1


def test_a_rate_limited_job_waits_as_asked_or_by_how_long_it_has_waited(runner, services, image, engine):
    before = utcnow()
    assert run(runner, image, raising(RetryLaterError("429", retry_after=100, throttled=True))) == "retry"
    # random_fraction=1: the wait asked for plus half again
    assert timedelta(seconds=149) < row(services, image).caption_next_attempt_at - before < timedelta(seconds=151)
    with engine.begin() as conn:  # queued 100 s ago, no wait asked for: half the time waited, at least the base
        conn.execute(sa.update(table).values(caption_queued_at=utcnow() - timedelta(seconds=100)))
    make_due(engine, image.id, Job.CAPTION)
    before = utcnow()
    assert run(runner, image, raising(RetryLaterError("429", throttled=True))) == "retry"
    assert timedelta(seconds=49) < row(services, image).caption_next_attempt_at - before < timedelta(seconds=51)


def test_a_job_rate_limited_just_past_the_window_fails(runner, services, image, engine):
    with engine.begin() as conn:
        conn.execute(sa.update(table).values(caption_queued_at=utcnow() - timedelta(hours=1, seconds=0.5)))
    assert run(runner, image, raising(RetryLaterError("Quota exceeded.", throttled=True))) == "failed"


def test_a_job_rate_limited_longer_than_the_window_fails(runner, services, image, engine):
    with engine.begin() as conn:
        conn.execute(sa.update(table).values(caption_queued_at=utcnow() - timedelta(hours=1, minutes=1)))
    assert run(runner, image, raising(RetryLaterError("Quota exceeded.", throttled=True))) == "failed"
    assert row(services, image).caption_error == (
        "Quota exceeded. Still rate-limited 1 hours after it was queued: raise the quota, then retry."
    )


def test_without_a_provider_a_caption_waits_uncounted_without_giving_up(runner, services, image, engine):
    with engine.begin() as conn:  # queued long ago: a rate limit would have given up by now
        conn.execute(sa.update(table).values(caption_queued_at=utcnow() - timedelta(days=30)))
    before = utcnow()
    for _ in range(4):
        assert run(runner, image, raising(ProviderNotConfiguredError("set GEMINI_API_KEY."))) == "waiting"
        make_due(engine, image.id, Job.CAPTION)
    stored = row(services, image)
    assert (stored.caption_status, stored.caption_attempts) == (JobState.PENDING, 0)
    assert stored.progress(Job.CAPTION).describe(3) == "waiting for a caption provider"
    run(runner, image, raising(ProviderNotConfiguredError("set GEMINI_API_KEY.")))
    assert row(services, image).caption_next_attempt_at - before > timedelta(minutes=59), "it looks again hourly"
    assert services.repository.waiting_for_setup(Job.CAPTION) == 1
    assert services.repository.wake_waiting_for_setup(Job.CAPTION) == 1
    assert run(runner, image, caption()) == "completed"


def test_an_attempt_that_died_past_the_cap_fails_as_interrupted(runner, services, image, engine):
    for _ in range(3):  # three invocations that were killed (timeout, out of memory) after claiming
        services.repository.claim(image.id, Job.CAPTION, LEASE)
        expire_lease(engine, image.id, Job.CAPTION)
    calls = []
    assert run(runner, image, lambda job: calls.append(job) or caption()(job)) == "failed"
    assert calls == [], "a job that died three times is not tried a fourth time"
    assert "Gave up after 3 attempts: the last one stopped without a result" in row(services, image).caption_error


def test_a_user_retry_unsticks_a_job_stuck_in_processing(runner, services, image, engine):
    services.repository.claim(image.id, Job.CAPTION, LEASE)
    assert services.repository.reset_for_retry(image.id, LEASE) == [], "a job within its lease is left alone"
    expire_lease(engine, image.id, Job.CAPTION)
    assert services.repository.reset_for_retry(image.id, LEASE) == [Job.CAPTION]
    stored = row(services, image)
    assert (stored.caption_status, stored.caption_attempts) == (JobState.PENDING, 0)
    assert run(runner, image, caption()) == "completed"


def test_a_lost_claim_undoes_what_the_work_wrote_when_the_image_is_gone(runner, services, image):
    undone = []

    def work_then_delete(job):
        services.repository.delete(job.record.id)
        return JobOutput({"thumbnail_key": "thumbnails/a.jpg"}, undo=lambda: undone.append(True))

    assert run(runner, image, work_then_delete, Job.THUMBNAIL) == "lost"
    assert undone == [True]


@pytest.mark.parametrize(
    "error",
    [
        JobError("Not an image."),
        RetryLaterError("Gemini is unavailable (503)."),
        RetryLaterError("429", retry_after=1, throttled=True),
        ProviderNotConfiguredError("set GEMINI_API_KEY."),
    ],
    ids=["failed", "retry", "throttled", "waiting"],
)
def test_a_claim_lost_while_the_work_failed_is_reported_lost(runner, services, image, error):
    def delete_then_raise(job):
        services.repository.delete(job.record.id)  # the image was deleted while its job ran
        raise error

    assert run(runner, image, delete_then_raise) == "lost"
    assert services.repository.find(image.id, include_trashed=True) is None


def test_a_lost_claim_keeps_the_objects_of_a_job_taken_over(runner, services, image, engine):
    undone = []

    def work_then_taken_over(job):
        expire_lease(engine, image.id, Job.THUMBNAIL)
        services.repository.claim(image.id, Job.THUMBNAIL, LEASE)  # another worker took over
        return JobOutput({"thumbnail_key": "thumbnails/a.jpg"}, undo=lambda: undone.append(True))

    assert run(runner, image, work_then_taken_over, Job.THUMBNAIL) == "lost"
    assert undone == [], "the new owner writes the same objects"


def test_a_lost_claim_keeps_the_objects_of_an_image_in_the_trash(runner, services, image, engine):
    undone = []

    def work_then_taken_over_and_trashed(job):
        expire_lease(engine, image.id, Job.THUMBNAIL)
        services.repository.claim(image.id, Job.THUMBNAIL, LEASE)  # another worker took over...
        services.repository.trash([image.id])  # ...and then the image went to the trash, whence it may come back
        return JobOutput({"thumbnail_key": "thumbnails/a.jpg"}, undo=lambda: undone.append(True))

    assert run(runner, image, work_then_taken_over_and_trashed, Job.THUMBNAIL) == "lost"
    assert undone == []


def test_targets_that_are_not_ours_are_ignored(runner, services, image):
    work = caption()
    deadline = lease_deadline(LEASE)
    assert runner.run(JobDue(image.id, Job.THUMBNAIL), Job.CAPTION, work, deadline) == "ignored"
    assert runner.run(JobDue(999_999, Job.CAPTION), Job.CAPTION, work, deadline) == "ignored"
    assert runner.run(JobDue(image.id, Job.CAPTION, "another-deployment"), Job.CAPTION, work, deadline) == "ignored"
    assert runner.run(ObjectCreated("other-bucket", "uploads/a.jpg"), Job.CAPTION, work, deadline) == "ignored"
    assert (
        runner.run(ObjectCreated(services.originals.bucket, "uploads/b.jpg"), Job.CAPTION, work, deadline) == "ignored"
    )
    assert row(services, image).caption_attempts == 0
    assert runner.run(JobDue(image.id, Job.CAPTION, services.originals.bucket), Job.CAPTION, work, deadline) == (
        "completed"
    )


def test_anything_else_as_a_target_is_a_programming_error(runner, image):
    with pytest.raises(TypeError, match="not a job target: 'uploads/a.jpg'"):
        runner.run("uploads/a.jpg", Job.CAPTION, caption(), lease_deadline(LEASE))


def test_a_missing_original_is_retried_then_fails_saying_to_upload_again(runner, services, image, engine):
    services.originals.delete("uploads/a.jpg")
    for _ in range(2):
        assert run(runner, image, caption()) == "retry"
        make_due(engine, image.id, Job.CAPTION)
    assert run(runner, image, caption()) == "failed"
    assert (
        "missing" in row(services, image).caption_error
        and "upload the image again" in row(services, image).caption_error
    )


class Context:
    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_lambda_deadline_is_the_sooner_of_the_invocation_and_the_lease():
    now = time.monotonic()
    assert 9 < lambda_deadline(Context(15_000), lease_seconds=90) - now < 10.5  # 15 s left, 5 s kept to record
    assert 84 < lambda_deadline(Context(900_000), lease_seconds=90) - now < 85.5
    assert 894.9 < lambda_deadline(Context(900_000), lease_seconds=3600) - now < 895.5  # milliseconds, not more


def make_due(engine, image_id: int, job: Job) -> None:
    """Time passes until the job's next attempt."""
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == image_id).values({f"{job}_next_attempt_at": utcnow()}))


def expire_lease(engine, image_id: int, job: Job) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.id == image_id)
            .values({f"{job}_started_at": utcnow() - timedelta(seconds=LEASE + 1)})
        )
