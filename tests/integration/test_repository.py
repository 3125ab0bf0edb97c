"""The image repository against real databases: SQLite always, MySQL/MariaDB when TEST_MYSQL_URL is set."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from annotation_core.accounts import UserRepository
from annotation_core.errors import ImageNotFoundError, ProviderNotConfiguredError
from annotation_core.job_store import Claim, utcnow
from annotation_core.records import ImageRecord, Job, JobState, Role
from annotation_core.repository import PURGING, ImageRepository, NewImage
from annotation_core.schema import images
from annotation_core.search import MAX_PREFIX_TERMS, text_match

LEASE = 90
_serial = itertools.count(1)


@pytest.fixture
def repo(engine) -> ImageRepository:
    return ImageRepository(engine)


def new_image(filename: str = "photo.jpg", **overrides) -> NewImage:
    n = next(_serial)
    values = {
        "original_key": f"uploads/{n:032x}.jpg",
        "filename": filename,
        "mime_type": "image/jpeg",
        "size_bytes": 1000 + n,
        "width": 640,
        "height": 480,
        "sha256": hashlib.sha256(f"image {n}".encode()).hexdigest(),
    }
    return NewImage(**{**values, **overrides})


def set_columns(repo: ImageRepository, image_id: int, **values) -> None:
    """A direct SQL update, standing in for time passing or another process's work."""
    with repo.engine.begin() as conn:
        assert conn.execute(images.update().where(images.c.id == image_id).values(**values)).rowcount == 1


def backdate(repo: ImageRepository, claim: Claim, seconds: float) -> Claim:
    """Move a claim's start into the past, in the row and in the claim: the worker started long ago."""
    past = claim.started_at - timedelta(seconds=seconds)
    set_columns(repo, claim.image_id, **{f"{claim.job}_started_at": past})
    return dataclasses.replace(claim, started_at=past)


def ids(records: list[ImageRecord]) -> list[int]:
    return [record.id for record in records]


# --- insert, read, delete ---


def test_insert_then_get_and_find(repo):
    new = new_image("Holiday Photo.jpg")
    before = utcnow()
    record = repo.insert(new)
    assert record.id > 0
    for field in dataclasses.fields(NewImage):
        assert getattr(record, field.name) == getattr(new, field.name)
    assert record.thumbnail_status is JobState.PENDING and record.caption_status is JobState.PENDING
    assert record.status is JobState.PROCESSING
    assert record.thumbnail_attempts == record.caption_attempts == 0
    assert record.caption is None and record.thumbnail_key is None
    assert record.thumbnail_started_at is None and record.caption_finished_at is None
    assert before - timedelta(seconds=1) <= record.uploaded_at <= utcnow() + timedelta(seconds=1)
    assert repo.get(record.id) == record
    assert repo.find(record.id) == record
    assert repo.find_by_original_key(new.original_key) == record
    assert repo.find_by_sha256(new.sha256) == record


def test_ids_grow_with_each_insert(repo):
    first, second = repo.insert(new_image()), repo.insert(new_image())
    assert second.id > first.id
    assert second.uploaded_at >= first.uploaded_at


def test_get_unknown_raises_image_not_found(repo):
    assert repo.find(424242) is None
    assert repo.find_by_original_key("uploads/nope.jpg") is None
    assert repo.find_by_sha256("0" * 64) is None
    with pytest.raises(ImageNotFoundError, match="424242") as caught:
        repo.get(424242)
    assert caught.value.http_status == 404


def test_duplicate_sha256_raises_integrity_error(repo):
    first = repo.insert(new_image())
    with pytest.raises(sa.exc.IntegrityError):
        repo.insert(new_image(sha256=first.sha256))
    with pytest.raises(sa.exc.IntegrityError):
        repo.insert(new_image(original_key=first.original_key))
    assert ids(repo.page()) == [first.id]


def test_delete_returns_the_record_then_it_is_gone(repo):
    record = repo.insert(new_image())
    other = repo.insert(new_image())
    assert repo.delete(record.id) == record
    assert repo.find(record.id) is None
    assert repo.delete(record.id) is None
    assert ids(repo.page()) == [other.id]


def test_non_ascii_file_names_round_trip(repo):
    record = repo.insert(new_image("été ☀ 写真 🚲.jpg"))
    assert repo.get(record.id).filename == "été ☀ 写真 🚲.jpg"


# --- what the renditions backfill and the upload quota read ---


def test_lacking_renditions_are_live_images_without_a_preview_whose_thumbnail_did_not_fail(repo):
    old = repo.insert(new_image())  # made before renditions existed: a thumbnail, no preview
    repo.finish(repo.claim(old.id, Job.THUMBNAIL, LEASE), {"thumbnail_key": "thumbnails/old.jpg"})
    rendered = repo.insert(new_image())
    repo.finish(
        repo.claim(rendered.id, Job.THUMBNAIL, LEASE),
        {"thumbnail_key": "thumbnails/r.jpg", "preview_key": "previews/r.jpg"},
    )
    broken = repo.insert(new_image())
    repo.fail(repo.claim(broken.id, Job.THUMBNAIL, LEASE), "cannot decode")
    trashed = repo.insert(new_image())
    repo.trash([trashed.id])
    pending = repo.insert(new_image())  # its thumbnail job has not run yet
    newest = repo.insert(new_image())

    assert repo.lacking_renditions() == [old.id, pending.id, newest.id], "oldest first"
    assert repo.count_lacking_renditions() == 3
    assert repo.lacking_renditions(after_id=old.id, limit=1) == [pending.id], "resumed after the last one done"
    assert repo.lacking_renditions(after_id=newest.id) == []


def test_uploads_since_counts_one_users_uploads_after_the_moment_and_the_first_of_them(repo):
    from annotation_core.accounts import UserRepository
    from annotation_core.records import Role

    users = UserRepository(repo.engine)
    alice = users.create("alice", "not-a-real-hash", Role.MEMBER).id
    bob = users.create("bob", "not-a-real-hash", Role.MEMBER).id
    since = utcnow() - timedelta(hours=1)

    def upload(user_id: int | None, at) -> None:
        set_columns(repo, repo.insert(new_image(uploaded_by=user_id)).id, uploaded_at=at)

    upload(alice, since - timedelta(minutes=5))
    upload(alice, since)  # exactly an hour ago: no longer in the window
    upload(alice, since + timedelta(minutes=20))
    upload(alice, since + timedelta(minutes=10))
    upload(bob, since + timedelta(minutes=1))
    upload(None, since + timedelta(minutes=2))

    assert repo.uploads_since(alice, since) == (2, since + timedelta(minutes=10))
    assert repo.uploads_since(bob, since) == (1, since + timedelta(minutes=1))
    assert repo.uploads_since(alice, since + timedelta(minutes=30)) == (0, None)


# --- claiming and settling jobs ---


def test_claim_takes_a_pending_job_once(repo):
    record = repo.insert(new_image())
    claim = repo.claim(record.id, Job.THUMBNAIL, LEASE)
    assert isinstance(claim, Claim)
    assert (claim.image_id, claim.job) == (record.id, Job.THUMBNAIL)
    stored = repo.get(record.id)
    assert stored.thumbnail_status is JobState.PROCESSING
    assert stored.thumbnail_started_at == claim.started_at
    assert stored.thumbnail_attempts == 1
    assert stored.caption_status is JobState.PENDING, "the other job is untouched"
    # A duplicate event finds nothing to claim and changes nothing.
    assert repo.claim(record.id, Job.THUMBNAIL, LEASE) is None
    assert repo.get(record.id) == stored


def test_the_two_jobs_are_claimed_independently(repo):
    record = repo.insert(new_image())
    assert repo.claim(record.id, Job.THUMBNAIL, LEASE) is not None
    assert repo.claim(record.id, Job.CAPTION, LEASE) is not None
    stored = repo.get(record.id)
    assert stored.thumbnail_status is stored.caption_status is JobState.PROCESSING


def test_claim_of_an_unknown_image_is_none(repo):
    assert repo.claim(999_999, Job.CAPTION, LEASE) is None


def test_finish_records_results_and_completes_the_job(repo):
    record = repo.insert(new_image())
    claim = repo.claim(record.id, Job.THUMBNAIL, LEASE)
    assert repo.finish(claim, {"thumbnail_key": "thumbnails/x.jpg"}) is True
    stored = repo.get(record.id)
    assert stored.thumbnail_status is JobState.COMPLETED
    assert stored.thumbnail_key == "thumbnails/x.jpg"
    assert stored.thumbnail_finished_at >= stored.thumbnail_started_at
    assert stored.thumbnail_error is None
    assert repo.claim(record.id, Job.THUMBNAIL, 0) is None, "a completed job is never claimed again"
    assert repo.finish(claim, {"thumbnail_key": "thumbnails/other.jpg"}) is False, "a claim settles once"
    assert repo.get(record.id).thumbnail_key == "thumbnails/x.jpg"


def test_fail_records_the_error(repo):
    record = repo.insert(new_image())
    claim = repo.claim(record.id, Job.CAPTION, LEASE)
    assert repo.fail(claim, "Gemini refused the key: set GEMINI_API_KEY and retry.") is True
    stored = repo.get(record.id)
    assert stored.caption_status is JobState.FAILED
    assert stored.caption_error == "Gemini refused the key: set GEMINI_API_KEY and retry."
    assert stored.caption_finished_at is not None
    assert stored.thumbnail_status is JobState.PENDING
    assert repo.claim(record.id, Job.CAPTION, 0) is None, "a failed job waits for an explicit retry"


def test_fail_truncates_very_long_errors(repo):
    record = repo.insert(new_image())
    claim = repo.claim(record.id, Job.CAPTION, LEASE)
    assert repo.fail(claim, "x" * 10_000)
    assert repo.get(record.id).caption_error == "x" * 2000


def test_claims_count_attempts_and_a_user_retry_counts_afresh(repo):
    record = repo.insert(new_image())
    for attempt in (1, 2, 3):
        claim = repo.claim(record.id, Job.CAPTION, LEASE)
        assert claim.attempt == repo.get(record.id).caption_attempts == attempt
        repo.retry_later(claim, f"failure {attempt}", utcnow())
        assert repo.get(record.id).caption_error == f"failure {attempt}", "the last reason is kept while retrying"
    repo.fail(repo.claim(record.id, Job.CAPTION, LEASE), "gave up")
    assert repo.reset_for_retry(record.id, LEASE) == [Job.CAPTION]
    stored = repo.get(record.id)
    assert (stored.caption_attempts, stored.caption_error) == (0, None)
    assert repo.claim(record.id, Job.CAPTION, LEASE).attempt == 1
    assert repo.get(record.id).thumbnail_attempts == 0


def test_retry_later_waits_until_its_time_and_can_refund_the_attempt(repo):
    record = repo.insert(new_image())
    claim = repo.claim(record.id, Job.CAPTION, LEASE)
    later = utcnow() + timedelta(seconds=30)
    assert repo.retry_later(claim, "Gemini is unavailable.", later) is True
    stored = repo.get(record.id)
    assert (stored.caption_status, stored.caption_next_attempt_at, stored.caption_attempts) == (
        JobState.PENDING,
        later,
        1,
    )
    assert stored.caption_finished_at is None
    assert repo.claim(record.id, Job.CAPTION, LEASE) is None, "not before its next attempt time"
    assert repo.retry_later(claim, "again", later) is False, "a claim settles once"
    set_columns(repo, record.id, caption_next_attempt_at=utcnow() - timedelta(seconds=1))
    second = repo.claim(record.id, Job.CAPTION, LEASE)
    assert second.attempt == 2 and repo.get(record.id).caption_next_attempt_at is None
    assert repo.retry_later(second, "429", utcnow(), refund=True)
    assert repo.get(record.id).caption_attempts == 1, "a rate-limited attempt is given back"


def test_user_retry_resets_failed_stuck_and_waiting_jobs_only(repo):
    both_failed = repo.insert(new_image())
    for job in Job:
        repo.fail(repo.claim(both_failed.id, job, LEASE), f"{job} broke")
    assert sorted(repo.reset_for_retry(both_failed.id, LEASE)) == sorted(Job)
    stored = repo.get(both_failed.id)
    assert stored.thumbnail_status is stored.caption_status is JobState.PENDING
    assert stored.thumbnail_error is None and stored.caption_error is None

    mixed = repo.insert(new_image())
    repo.finish(repo.claim(mixed.id, Job.THUMBNAIL, LEASE), {"thumbnail_key": "thumbnails/m.jpg"})
    repo.retry_later(repo.claim(mixed.id, Job.CAPTION, LEASE), "429", utcnow() + timedelta(hours=1))
    assert repo.reset_for_retry(mixed.id, LEASE) == [Job.CAPTION], "a waiting job is due now"
    stored = repo.get(mixed.id)
    assert stored.thumbnail_status is JobState.COMPLETED and stored.thumbnail_key == "thumbnails/m.jpg"
    assert (stored.caption_status, stored.caption_next_attempt_at) == (JobState.PENDING, None)
    assert repo.claim(mixed.id, Job.CAPTION, LEASE) is not None, "a reset job can be claimed again"

    running = repo.insert(new_image())
    claim = repo.claim(running.id, Job.THUMBNAIL, LEASE)
    before = repo.get(running.id)
    assert repo.reset_for_retry(running.id, LEASE) == [], "a job within its lease is left alone"
    assert repo.get(running.id) == before
    backdate(repo, claim, LEASE + 1)
    assert repo.reset_for_retry(running.id, LEASE) == [Job.THUMBNAIL], "a job stuck past its lease is reset"
    assert repo.reset_for_retry(999_999, LEASE) == []


def test_reset_failed_puts_back_failed_jobs_of_given_or_all_images(repo):
    failed = [repo.insert(new_image()) for _ in range(3)]
    for record in failed:
        repo.fail(repo.claim(record.id, Job.CAPTION, LEASE), "refused")
    repo.fail(repo.claim(failed[0].id, Job.THUMBNAIL, LEASE), "broken")
    fine = repo.insert(new_image())
    repo.finish(repo.claim(fine.id, Job.CAPTION, LEASE), {})

    assert repo.reset_failed([failed[1].id, fine.id]) == [(failed[1].id, Job.CAPTION)]
    assert sorted(repo.reset_failed()) == sorted(
        [(failed[0].id, Job.THUMBNAIL), (failed[0].id, Job.CAPTION), (failed[2].id, Job.CAPTION)]
    )
    assert repo.reset_failed() == []
    assert repo.get(fine.id).caption_status is JobState.COMPLETED
    assert all(repo.get(record.id).caption_status is JobState.PENDING for record in failed)


def test_reset_failed_takes_at_most_the_newest_limit_of_each_job(repo):
    failed = [repo.insert(new_image()) for _ in range(5)]
    for record in failed:
        repo.fail(repo.claim(record.id, Job.CAPTION, LEASE), "refused")
    assert repo.reset_failed(limit=2) == [(failed[4].id, Job.CAPTION), (failed[3].id, Job.CAPTION)]


def test_an_expired_lease_can_be_claimed_again_and_an_unexpired_one_cannot(repo):
    record = repo.insert(new_image())
    first = repo.claim(record.id, Job.THUMBNAIL, LEASE)
    first = backdate(repo, first, LEASE / 3)  # started 30 s ago: still running
    assert repo.claim(record.id, Job.THUMBNAIL, LEASE) is None
    first = backdate(repo, first, LEASE)  # now 120 s ago: the worker crashed
    second = repo.claim(record.id, Job.THUMBNAIL, LEASE)
    assert second is not None
    assert second.started_at > first.started_at
    stored = repo.get(record.id)
    assert stored.thumbnail_status is JobState.PROCESSING
    assert stored.thumbnail_started_at == second.started_at
    assert stored.thumbnail_attempts == 2
    assert repo.claim(record.id, Job.THUMBNAIL, LEASE) is None, "the new lease is fresh"


def test_a_stale_claim_cannot_finish_or_fail_after_a_takeover(repo):
    record = repo.insert(new_image())
    stale = backdate(repo, repo.claim(record.id, Job.CAPTION, LEASE), 10 * LEASE)
    current = repo.claim(record.id, Job.CAPTION, LEASE)
    assert current is not None

    assert repo.finish(stale, {"caption": "stale words", "caption_model": "old"}) is False
    assert repo.fail(stale, "stale failure") is False
    stored = repo.get(record.id)
    assert stored.caption_status is JobState.PROCESSING
    assert stored.caption is None and stored.caption_error is None

    assert repo.finish(current, {"caption": "A lighthouse at dusk.", "caption_model": "m"}) is True
    stored = repo.get(record.id)
    assert (stored.caption_status, stored.caption, stored.caption_model) == (
        JobState.COMPLETED,
        "A lighthouse at dusk.",
        "m",
    )


def test_finish_after_delete_returns_false(repo):
    record = repo.insert(new_image())
    claim = repo.claim(record.id, Job.THUMBNAIL, LEASE)
    repo.delete(record.id)
    assert repo.finish(claim, {"thumbnail_key": "thumbnails/x.jpg"}) is False
    assert repo.find(record.id) is None


def test_due_jobs_are_due_retries_lost_events_and_expired_leases_oldest_first(repo):
    def due(job: Job, lost_after: float = 60) -> list[int]:
        return repo.due_jobs(job, lease_seconds=LEASE, lost_after=lost_after, limit=10)

    fresh = repo.insert(new_image())  # its event is on its way
    lost = repo.insert(new_image())
    set_columns(repo, lost.id, thumbnail_queued_at=utcnow() - timedelta(seconds=61))
    waiting = repo.insert(new_image())
    repo.retry_later(repo.claim(waiting.id, Job.THUMBNAIL, LEASE), "503", utcnow() + timedelta(seconds=30))
    due_retry = repo.insert(new_image())
    repo.retry_later(repo.claim(due_retry.id, Job.THUMBNAIL, LEASE), "503", utcnow() - timedelta(seconds=1))
    running = repo.insert(new_image())
    repo.claim(running.id, Job.THUMBNAIL, LEASE)
    crashed = repo.insert(new_image())
    backdate(repo, repo.claim(crashed.id, Job.THUMBNAIL, LEASE), LEASE + 1)
    done = repo.insert(new_image())
    repo.finish(repo.claim(done.id, Job.THUMBNAIL, LEASE), {})
    failed = repo.insert(new_image())
    repo.fail(repo.claim(failed.id, Job.THUMBNAIL, LEASE), "x")
    set_columns(repo, failed.id, thumbnail_queued_at=utcnow() - timedelta(days=1))

    assert due(Job.THUMBNAIL) == [lost.id, due_retry.id, crashed.id]
    assert due(Job.THUMBNAIL, lost_after=0) == [fresh.id, lost.id, due_retry.id, crashed.id]
    assert repo.due_jobs(Job.THUMBNAIL, lease_seconds=LEASE, lost_after=0, limit=2) == [fresh.id, lost.id]
    assert due(Job.CAPTION) == [], "the other job's columns decide nothing"
    assert len(due(Job.CAPTION, lost_after=0)) == 8


def test_next_attempt_at_is_the_soonest_waiting_retry(repo):
    assert repo.next_attempt_at() is None
    soon, later = utcnow() + timedelta(seconds=5), utcnow() + timedelta(seconds=50)
    repo.retry_later(repo.claim(repo.insert(new_image()).id, Job.CAPTION, LEASE), "x", later)
    repo.retry_later(repo.claim(repo.insert(new_image()).id, Job.THUMBNAIL, LEASE), "x", soon)
    assert repo.next_attempt_at() == soon


def test_next_lease_expiry_is_when_the_oldest_running_lease_runs_out(repo):
    assert repo.next_lease_expiry(LEASE) is None
    repo.claim(repo.insert(new_image()).id, Job.CAPTION, LEASE)
    older = backdate(repo, repo.claim(repo.insert(new_image()).id, Job.THUMBNAIL, LEASE), 30)
    finished = backdate(repo, repo.claim(repo.insert(new_image()).id, Job.CAPTION, LEASE), 60)
    assert repo.finish(finished, {"caption": "Done.", "caption_model": "m"}), "started sooner, but no longer running"
    trashed = backdate(repo, repo.claim(repo.insert(new_image()).id, Job.THUMBNAIL, LEASE), 60)
    assert repo.trash([trashed.image_id]) == [trashed.image_id]
    assert repo.next_lease_expiry(LEASE) == older.started_at + timedelta(seconds=LEASE)
    assert repo.next_lease_expiry(10) == older.started_at + timedelta(seconds=10)


def test_retry_later_truncates_very_long_errors(repo):
    record = repo.insert(new_image())
    assert repo.retry_later(repo.claim(record.id, Job.CAPTION, LEASE), "x" * 10_000, utcnow())
    assert repo.get(record.id).caption_error == "x" * 2000


def test_settling_a_claim_changes_only_its_own_image(repo):
    first, second = repo.insert(new_image()), repo.insert(new_image())
    claim = repo.claim(first.id, Job.THUMBNAIL, LEASE)
    repo.claim(second.id, Job.THUMBNAIL, LEASE)
    set_columns(repo, second.id, thumbnail_started_at=claim.started_at)  # two workers started in the same instant
    assert repo.finish(claim, {"thumbnail_key": "thumbnails/first.jpg"}) is True
    stored = repo.get(second.id)
    assert (stored.thumbnail_status, stored.thumbnail_key) == (JobState.PROCESSING, None)


def test_a_user_retry_touches_only_that_images_unfinished_jobs(repo):
    record, neighbour = repo.insert(new_image()), repo.insert(new_image())
    long_ago = backdate(repo, repo.claim(record.id, Job.THUMBNAIL, LEASE), LEASE + 1)
    repo.finish(long_ago, {"thumbnail_key": "thumbnails/a.jpg"})  # started long ago, and completed
    for image in (record, neighbour):
        repo.fail(repo.claim(image.id, Job.CAPTION, LEASE), "refused")
    assert repo.reset_for_retry(record.id, LEASE) == [Job.CAPTION]
    stored = repo.get(record.id)
    assert (stored.thumbnail_status, stored.thumbnail_key) == (JobState.COMPLETED, "thumbnails/a.jpg")
    assert repo.get(neighbour.id).caption_status is JobState.FAILED, "another image's failure waits for its own retry"


def test_due_jobs_leave_jobs_that_ended_and_take_the_oldest_first_whatever_their_state(repo):
    crashed = repo.insert(new_image())
    backdate(repo, repo.claim(crashed.id, Job.CAPTION, LEASE), LEASE + 1)
    lost = repo.insert(new_image())
    set_columns(repo, lost.id, caption_queued_at=utcnow() - timedelta(seconds=61))
    completed, failed = repo.insert(new_image()), repo.insert(new_image())
    repo.finish(backdate(repo, repo.claim(completed.id, Job.CAPTION, LEASE), LEASE + 1), {"caption": "Done."})
    repo.fail(backdate(repo, repo.claim(failed.id, Job.CAPTION, LEASE), LEASE + 1), "refused")

    assert repo.due_jobs(Job.CAPTION, lease_seconds=LEASE, lost_after=60, limit=10) == [crashed.id, lost.id]
    assert repo.due_jobs(Job.CAPTION, lease_seconds=LEASE, lost_after=60, limit=1) == [crashed.id]


def test_only_captions_waiting_for_a_provider_count_as_waiting_for_setup_and_are_woken(repo):
    later = utcnow() + timedelta(hours=1)
    setup = repo.insert(new_image())
    reason = ProviderNotConfiguredError("set GEMINI_API_KEY.").message
    repo.retry_later(repo.claim(setup.id, Job.CAPTION, LEASE), reason, later, refund=True)
    unavailable = repo.insert(new_image())
    repo.retry_later(repo.claim(unavailable.id, Job.CAPTION, LEASE), "Gemini is unavailable (503).", later)
    repo.insert(new_image())  # pending, not tried yet

    assert repo.waiting_for_setup(Job.CAPTION) == 1
    assert repo.waiting_for_setup(Job.THUMBNAIL) == 0
    assert repo.wake_waiting_for_setup(Job.THUMBNAIL) == 0, "no thumbnail waits for setup"
    before = utcnow()
    assert repo.wake_waiting_for_setup(Job.CAPTION) == 1
    assert before <= repo.get(setup.id).caption_next_attempt_at <= utcnow()
    assert repo.get(unavailable.id).caption_next_attempt_at == later, "a service that was down keeps its backoff"
    assert repo.due_jobs(Job.CAPTION, lease_seconds=LEASE, lost_after=60, limit=10) == [setup.id]


def test_utcnow_is_utc_whatever_the_machines_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "EAST-14")  # POSIX for UTC+14, the farthest from UTC a laptop's clock can be
    time.tzset()
    try:
        local = datetime.now()
        assert abs(utcnow() - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)
        assert abs(utcnow() - local) > timedelta(hours=13), "the zone took effect"
    finally:
        monkeypatch.undo()
        time.tzset()


# --- queueing a job again, and the trash ---


def test_queue_again_puts_back_completed_jobs_of_the_given_images_only(repo):
    done, untouched, failed, trashed = (repo.insert(new_image()) for _ in range(4))
    for record in (done, untouched, trashed):
        repo.finish(repo.claim(record.id, Job.THUMBNAIL, LEASE), {"thumbnail_key": f"thumbnails/{record.id}.jpg"})
    repo.fail(repo.claim(failed.id, Job.THUMBNAIL, LEASE), "Not an image.")
    repo.trash([trashed.id])
    in_the_trash = repo.find(trashed.id, include_trashed=True)
    before = utcnow()

    assert repo.queue_again([done.id, failed.id, trashed.id, 999_999], Job.THUMBNAIL) == 1
    stored = repo.get(done.id)
    assert (stored.thumbnail_status, stored.thumbnail_attempts, stored.thumbnail_next_attempt_at) == (
        JobState.PENDING,
        0,
        None,
    )
    assert stored.thumbnail_queued_at >= before and stored.updated_at >= before, "queued now: not a lost event"
    assert stored.thumbnail_key == f"thumbnails/{done.id}.jpg", "the old thumbnail shows until a new one replaces it"
    assert repo.get(untouched.id).thumbnail_status is JobState.COMPLETED
    assert (repo.get(failed.id).thumbnail_status, repo.get(failed.id).thumbnail_error) == (
        JobState.FAILED,
        "Not an image.",
    ), "a failed job waits for a user's retry"
    assert repo.find(trashed.id, include_trashed=True) == in_the_trash, "an image in the trash is left alone"
    assert repo.claim(done.id, Job.THUMBNAIL, LEASE).attempt == 1


def test_requeue_queues_a_job_anew_unless_a_worker_holds_it_within_its_lease(repo):
    done = repo.insert(new_image())
    repo.finish(repo.claim(done.id, Job.CAPTION, LEASE), {"caption": "Old words.", "caption_model": "m"})
    before = utcnow()
    assert repo.requeue(done.id, Job.CAPTION, LEASE) is True
    stored = repo.get(done.id)
    assert (stored.caption_status, stored.caption_attempts, stored.caption_error) == (JobState.PENDING, 0, None)
    assert stored.caption_queued_at >= before
    assert stored.caption == "Old words.", "the old caption shows until a new one replaces it"

    running = repo.insert(new_image())
    repo.claim(running.id, Job.THUMBNAIL, LEASE)  # the other job's worker holds nothing of this one
    claim = repo.claim(running.id, Job.CAPTION, LEASE)
    held = repo.get(running.id)
    assert repo.requeue(running.id, Job.CAPTION, LEASE) is False
    assert repo.get(running.id) == held
    claim = backdate(repo, claim, LEASE - 5)
    assert repo.requeue(running.id, Job.CAPTION, LEASE) is False, "still within its lease"
    backdate(repo, claim, 10)
    assert repo.requeue(running.id, Job.CAPTION, LEASE) is True, "its worker died"
    assert repo.get(running.id).caption_status is JobState.PENDING
    assert repo.get(running.id).thumbnail_status is JobState.PROCESSING
    assert repo.requeue(999_999, Job.CAPTION, LEASE) is False


def test_reset_failed_of_one_uploader_leaves_other_peoples_images_alone(repo):
    accounts = UserRepository(repo.engine)
    member, other = (accounts.create(name, "not-a-real-hash", Role.MEMBER).id for name in ("member", "other"))
    mine, theirs, legacy = (repo.insert(new_image(uploaded_by=user)) for user in (member, other, None))
    for record in (mine, theirs, legacy):
        repo.fail(repo.claim(record.id, Job.CAPTION, LEASE), "refused")
    assert repo.reset_failed([theirs.id, legacy.id], uploaded_by=member) == []
    assert repo.reset_failed(uploaded_by=member) == [(mine.id, Job.CAPTION)]
    assert repo.get(theirs.id).caption_status is repo.get(legacy.id).caption_status is JobState.FAILED


def test_the_jobs_of_an_image_in_the_trash_are_left_alone_until_it_is_restored(repo):
    def failed_and_waiting_for_setup() -> int:
        record = repo.insert(new_image())
        repo.fail(repo.claim(record.id, Job.THUMBNAIL, LEASE), "Not an image.")
        claim = repo.claim(record.id, Job.CAPTION, LEASE)
        reason = ProviderNotConfiguredError("set GEMINI_API_KEY.").message
        repo.retry_later(claim, reason, utcnow() - timedelta(seconds=1), refund=True)
        return record.id

    trashed, live = failed_and_waiting_for_setup(), failed_and_waiting_for_setup()
    assert repo.trash([trashed]) == [trashed]
    kept = repo.find(trashed, include_trashed=True)

    assert repo.due_jobs(Job.CAPTION, lease_seconds=LEASE, lost_after=0, limit=10) == [live]
    assert repo.waiting_for_setup(Job.CAPTION) == 1
    assert repo.next_attempt_at() == repo.get(live).caption_next_attempt_at
    assert repo.claim(trashed, Job.CAPTION, LEASE) is None
    assert repo.reset_for_retry(trashed, LEASE) == []
    assert repo.requeue(trashed, Job.CAPTION, LEASE) is False
    assert repo.reset_failed() == [(live, Job.THUMBNAIL)]
    assert repo.find(trashed, include_trashed=True) == kept, "nothing of it changed"

    assert repo.restore([trashed]) == [trashed]
    assert repo.claim(trashed, Job.CAPTION, LEASE) is not None, "restored, its waiting job goes on"


# --- the trash ---


def test_find_by_original_key_finds_that_image_and_none_in_the_trash(repo):
    first, second = repo.insert(new_image()), repo.insert(new_image())
    assert repo.find_by_original_key(second.original_key) == second
    assert repo.find_by_original_key(first.original_key) == first
    repo.trash([first.id])
    assert repo.find_by_original_key(first.original_key) is None, "an event for a trashed image finds nothing"


def test_begin_purge_claims_only_its_image_and_only_once_its_time_in_the_trash_is_up(repo):
    live = repo.insert(new_image())
    first, second = repo.insert(new_image()), repo.insert(new_image())
    repo.trash([first.id, second.id])
    trashed_at = repo.find(first.id, include_trashed=True).deleted_at

    assert repo.begin_purge(live.id, trashed_at) is None, "an image not in the trash is never purged"
    assert repo.begin_purge(first.id, trashed_at - timedelta(seconds=1)) is None, "in the trash too short a time"
    # Trashed exactly at the cutoff counts as expired, for the list of expired images and for the claim alike.
    assert sorted(repo.expired_trash(trashed_at, lease_seconds=LEASE, limit=10)) == [first.id, second.id]
    purging = repo.begin_purge(first.id, trashed_at)

    assert (purging.id, purging.deleted_at) == (first.id, PURGING)
    assert repo.find(live.id) == live
    assert repo.find(second.id, include_trashed=True).deleted_at == trashed_at, "the other image is not claimed"
    assert repo.restore([first.id, second.id]) == [second.id]


def test_expired_trash_leaves_out_only_images_whose_job_a_worker_holds_within_its_lease(repo):
    quiet, running, crashed = (repo.insert(new_image()) for _ in range(3))
    repo.claim(running.id, Job.CAPTION, LEASE)
    backdate(repo, repo.claim(crashed.id, Job.THUMBNAIL, LEASE), LEASE + 1)  # its worker died long ago
    repo.trash([quiet.id, running.id, crashed.id])

    expired = repo.expired_trash(utcnow(), lease_seconds=LEASE, limit=10)

    assert sorted(expired) == [quiet.id, crashed.id]


def test_trash_and_restore_mark_the_image_changed_and_restore_answers_newest_first(repo):
    first, second = repo.insert(new_image()), repo.insert(new_image())

    assert repo.trash([first.id, second.id]) == [second.id, first.id]
    trashed = repo.find(first.id, include_trashed=True)
    assert trashed.updated_at == trashed.deleted_at > first.updated_at

    assert repo.restore([first.id, second.id]) == [second.id, first.id]
    assert repo.find(first.id).updated_at > trashed.updated_at


def test_find_many_returns_the_live_images_asked_for_newest_first(repo):
    first, second, third, fourth = (repo.insert(new_image()) for _ in range(4))
    repo.trash([fourth.id])

    assert ids(repo.find_many([first.id, third.id, 999_999, fourth.id])) == [third.id, first.id]
    assert ids(repo.find_many([second.id])) == [second.id]
    assert repo.find_many([]) == []


def test_delete_returns_none_when_another_delete_removed_the_row_meanwhile(repo, monkeypatch):
    record = repo.insert(new_image())
    find = repo.find

    def found_then_deleted_elsewhere(image_id, **options):
        found = find(image_id, **options)
        with repo.engine.begin() as conn:  # a second request deleting the same image
            conn.execute(images.delete().where(images.c.id == image_id))
        return found

    monkeypatch.setattr(repo, "find", found_then_deleted_elsewhere)
    assert repo.delete(record.id) is None, "only the delete that removed the row reports it (the other answers 404)"


# --- paging, filtering and search ---


def test_page_is_newest_first_and_keyset_pages_are_disjoint_and_complete(repo):
    inserted = [repo.insert(new_image()).id for _ in range(11)]
    assert ids(repo.page(limit=100)) == inserted[::-1]

    pages, before = [], None
    while True:
        page = repo.page(before_id=before, limit=4)
        if not page:
            break
        pages.append(ids(page))
        before = page[-1].id
    assert [len(page) for page in pages] == [4, 4, 3]
    flat = [image_id for page in pages for image_id in page]
    assert flat == inserted[::-1], "pages are disjoint, ordered, and cover everything"
    assert repo.page(before_id=inserted[0]) == []


def test_page_status_filter_agrees_with_the_record_status(repo):
    made = {}
    for thumbnail, caption in itertools.product(JobState, repeat=2):
        record = repo.insert(new_image())
        set_columns(repo, record.id, thumbnail_status=thumbnail, caption_status=caption)
        made[record.id] = (thumbnail, caption)
    records = repo.page(limit=100)
    assert {r.id: (r.thumbnail_status, r.caption_status) for r in records} == made

    by_status = {status: {r.id for r in records if r.status is status} for status in JobState}
    assert len(by_status[JobState.COMPLETED]) == 1
    assert len(by_status[JobState.FAILED]) == 3
    assert len(by_status[JobState.PROCESSING]) == 12
    for status in (JobState.PROCESSING, JobState.FAILED, JobState.COMPLETED):
        assert set(ids(repo.page(status=status, limit=100))) == by_status[status], status
    # 'pending' is never an overall status; as a filter it means "not finished yet".
    assert set(ids(repo.page(status=JobState.PENDING, limit=100))) == by_status[JobState.PROCESSING]


def test_status_filter_pages_with_keyset_too(repo):
    failed = []
    for _ in range(5):
        record = repo.insert(new_image())
        set_columns(repo, record.id, thumbnail_status=JobState.FAILED, caption_status=JobState.COMPLETED)
        failed.append(record.id)
        repo.insert(new_image())  # an unfinished one in between
    first = repo.page(status=JobState.FAILED, limit=3)
    second = repo.page(status=JobState.FAILED, limit=3, before_id=first[-1].id)
    assert ids(first) + ids(second) == failed[::-1]


def test_failed_filter_takes_the_newest_failed_past_newer_unfinished_ones(repo):
    def image(thumbnail: JobState, caption: JobState) -> int:
        record = repo.insert(new_image())
        set_columns(repo, record.id, thumbnail_status=thumbnail, caption_status=caption)
        return record.id

    failed = [image(JobState.FAILED, JobState.COMPLETED), image(JobState.COMPLETED, JobState.FAILED)]
    for _ in range(3):  # newer rows with a failed job but another still running: not failed overall
        image(JobState.FAILED, JobState.PROCESSING)
        image(JobState.PENDING, JobState.FAILED)
    failed.append(image(JobState.FAILED, JobState.FAILED))  # in both scans, listed once

    first = repo.page(status=JobState.FAILED, limit=2)
    second = repo.page(status=JobState.FAILED, limit=2, before_id=first[-1].id)

    assert ids(first) + ids(second) == failed[::-1]


def test_failed_filter_pages_leave_out_the_trash_and_skip_nothing(repo):
    failed = []
    for _ in range(6):
        record = repo.insert(new_image())
        set_columns(repo, record.id, thumbnail_status=JobState.FAILED, caption_status=JobState.COMPLETED)
        failed.append(record.id)
    repo.trash([failed.pop()])  # the newest failed image is in the trash

    pages, before = [], None
    while page := repo.page(status=JobState.FAILED, limit=2, before_id=before):
        pages.append(ids(page))
        before = page[-1].id

    assert pages == [[failed[4], failed[3]], [failed[2], failed[1]], [failed[0]]]


@pytest.fixture
def captioned(repo):
    """Four images with captions and names chosen for both engines (words of 3+ letters, no stopwords)."""

    def make(filename: str, caption: str | None) -> int:
        record = repo.insert(new_image(filename))
        if caption is not None:
            claim = repo.claim(record.id, Job.CAPTION, LEASE)
            assert repo.finish(claim, {"caption": caption, "caption_model": "test-model"})
        return record.id

    return {
        "bicycle": make("IMG_0001.jpg", "A red bicycle leaning against the harbour wall."),
        "garden": make("IMG_0002.jpg", "A blue bicycle resting in a quiet garden."),
        "lighthouse": make("lighthouse-at-dusk.jpg", None),
        "tractor": make("farm.png", "An old tractor ploughing a meadow near the café."),
    }


def search(repo, query: str, **options) -> set[int]:
    return set(ids(repo.page(query=query, limit=100, **options)))


def test_search_finds_by_caption_word(repo, captioned):
    assert search(repo, "harbour") == {captioned["bicycle"]}
    assert search(repo, "bicycle") == {captioned["bicycle"], captioned["garden"]}
    assert search(repo, "BICYCLE") == {captioned["bicycle"], captioned["garden"]}
    assert search(repo, "submarine") == set()


def test_search_finds_by_file_name(repo, captioned):
    assert search(repo, "lighthouse") == {captioned["lighthouse"]}
    assert search(repo, "dusk") == {captioned["lighthouse"]}
    assert search(repo, "farm") == {captioned["tractor"]}


def test_search_treats_the_last_word_as_a_prefix(repo, captioned):
    assert search(repo, "bicyc") == {captioned["bicycle"], captioned["garden"]}
    assert search(repo, "lightho") == {captioned["lighthouse"]}
    assert search(repo, "harb") == {captioned["bicycle"]}
    assert search(repo, "bicyc harbour") == set(), "earlier words are whole words"
    assert search(repo, "harbour bicyc") == {captioned["bicycle"]}


def test_search_requires_every_word(repo, captioned):
    assert search(repo, "bicycle harbour") == {captioned["bicycle"]}
    assert search(repo, "bicycle garden") == {captioned["garden"]}
    assert search(repo, "bicycle tractor") == set()
    assert search(repo, "harbour garden") == set()


def test_search_results_are_newest_first_and_combine_with_paging_and_status(repo, captioned):
    newest_first = ids(repo.page(query="bicycle"))
    assert newest_first == [captioned["garden"], captioned["bicycle"]]
    assert ids(repo.page(query="bicycle", before_id=captioned["garden"])) == [captioned["bicycle"]]
    assert ids(repo.page(query="bicycle", limit=1)) == [captioned["garden"]]
    set_columns(repo, captioned["bicycle"], thumbnail_status=JobState.COMPLETED)
    assert search(repo, "bicycle", status=JobState.COMPLETED) == {captioned["bicycle"]}
    assert search(repo, "bicycle", status=JobState.PROCESSING) == {captioned["garden"]}


def test_a_short_search_page_continues_below_its_cursor_and_is_filled_past_other_statuses(repo, captioned):
    assert ids(repo.page(query="bicycle", limit=1, before_id=captioned["garden"])) == [captioned["bicycle"]]
    set_columns(repo, captioned["bicycle"], thumbnail_status=JobState.COMPLETED)  # the newest match stays unfinished
    assert ids(repo.page(query="bicycle", limit=1, status=JobState.COMPLETED)) == [captioned["bicycle"]]


def test_search_with_a_status_filter_shows_each_image_under_its_overall_status(repo, captioned):
    def photo(filename: str, thumbnail: JobState, caption: JobState) -> int:
        record = repo.insert(new_image(filename))
        set_columns(repo, record.id, thumbnail_status=thumbnail, caption_status=caption)
        return record.id

    thumbnail_failed = captioned["bicycle"]
    set_columns(repo, thumbnail_failed, thumbnail_status=JobState.FAILED)  # its caption is completed
    still_running = captioned["garden"]
    set_columns(repo, still_running, thumbnail_status=JobState.FAILED, caption_status=JobState.PROCESSING)
    caption_failed = photo("bicycle-shed.jpg", JobState.COMPLETED, JobState.FAILED)
    done = photo("bicycle-race.jpg", JobState.COMPLETED, JobState.COMPLETED)

    assert search(repo, "bicycle", status=JobState.FAILED) == {thumbnail_failed, caption_failed}
    assert search(repo, "bicycle", status=JobState.PROCESSING) == {still_running}
    assert search(repo, "bicycle", status=JobState.COMPLETED) == {done}
    photo("kayak.jpg", JobState.COMPLETED, JobState.FAILED)  # newer, its caption failed too, not a match
    assert ids(repo.page(query="bicycle", status=JobState.FAILED, limit=1)) == [caption_failed]


def test_search_ignores_accents(repo, captioned):
    assert search(repo, "cafe") == {captioned["tractor"]}
    assert search(repo, "café") == {captioned["tractor"]}


def test_search_operators_and_punctuation_are_plain_text(repo, captioned):
    # '-' would exclude and 'OR' would widen in the engines' syntaxes; here they are just words/noise.
    assert search(repo, "bicycle -harbour") == {captioned["bicycle"]}
    assert search(repo, '"bicycle" +garden*') == {captioned["garden"]}
    assert search(repo, "(harbour) bicycle!!") == {captioned["bicycle"]}
    assert search(repo, "bicycle, harbour.") == {captioned["bicycle"]}


def test_a_prefix_finds_every_term_it_starts_however_many_and_terms_continuing_with_digits(repo):
    zebras = {n: repo.insert(new_image(f"zebra{n}.jpg")).id for n in range(1, MAX_PREFIX_TERMS + 2)}
    assert search(repo, "zebr") == set(zebras.values()), "more longer terms than are spelled out"
    assert search(repo, "zebra1") == {zebras[n] for n in zebras if str(n).startswith("1")}


def test_a_prefix_with_accents_finds_the_longer_words_it_starts(repo):
    summers = repo.insert(new_image("étésiens.jpg")).id
    repo.insert(new_image("étang.jpg"))
    assert search(repo, "été") == {summers}


def test_words_past_the_sixteenth_of_a_query_are_left_out(repo, captioned):
    sixteen = " ".join(["bicycle"] * 16)
    assert search(repo, f"{sixteen} submarine") == {captioned["bicycle"], captioned["garden"]}


def test_mysql_is_asked_for_every_word_the_last_as_a_prefix_over_exactly_the_fulltext_index_s_columns():
    """What the MySQL tests above exercise, checked without a server so every run sees it: MATCH must name
    exactly the columns of the FULLTEXT index, and boolean mode needs `+` on every word to require it."""
    on_mysql = SimpleNamespace(dialect=mysql.dialect())
    fulltext = next(index for index in images.indexes if index.name == "ix_images_fulltext")
    columns = ", ".join(column.name for column in fulltext.columns)

    for query, words in [('bicycle, "harb', "+bicycle +harb*"), ("harb", "+harb*"), ("a b c", "+a +b +c*")]:
        compiled = text_match(on_mysql, query).compile(dialect=mysql.dialect())
        assert str(compiled) == f"MATCH ({columns}) AGAINST (%s IN BOOLEAN MODE)"
        assert compiled.params == {"match": words}, query
    assert text_match(on_mysql, "?!") is None


NASTY_QUERIES = [
    '"cat" OR -dog*',
    '"',
    "*",
    "-",
    "+",
    "~bicycle",
    "@3",
    "NEAR(bicycle harbour)",
    "caption:bicycle",
    "bicycle AND",
    "NOT",
    "'; DROP TABLE images; --",
    "%_\\",
    "()",
    "<>",
    "^bicycle",
]


def test_search_never_errors_on_query_syntax(repo, captioned):
    for query in NASTY_QUERIES:
        result = repo.page(query=query)
        assert isinstance(result, list), query
        assert all(isinstance(record, ImageRecord) for record in result), query
    assert len(repo.page()) == 4, "the table is intact"


def test_blank_or_punctuation_only_query_means_no_search(repo, captioned):
    everything = set(captioned.values())
    assert search(repo, "") == everything
    assert search(repo, "   ") == everything
    assert search(repo, "?!- *") == everything


def test_search_follows_caption_updates(repo, captioned):
    image_id = captioned["lighthouse"]
    assert search(repo, "sailboat") == set()
    set_columns(repo, image_id, caption="A sailboat passing the lighthouse.")
    assert search(repo, "sailboat") == {image_id}
    assert search(repo, "lighthouse sailboat") == {image_id}

    set_columns(repo, image_id, caption="A windmill on a hill.")
    assert search(repo, "sailboat") == set(), "the old caption is no longer indexed"
    assert search(repo, "windmill") == {image_id}
    assert search(repo, "lighthouse") == {image_id}, "the file name is still indexed"

    set_columns(repo, image_id, filename="renamed.jpg")
    assert search(repo, "lighthouse") == set()
    assert search(repo, "renamed") == {image_id}


def test_search_forgets_deleted_images(repo, captioned):
    repo.delete(captioned["bicycle"])
    assert search(repo, "harbour") == set()
    assert search(repo, "bicycle") == {captioned["garden"]}
    repo.delete(captioned["garden"])
    assert search(repo, "bicycle") == set()
    # A new image with the same words is found, and only it.
    newcomer = repo.insert(new_image("harbour-bicycle.jpg")).id
    assert search(repo, "bicycle harbour") == {newcomer}


def test_search_is_unaffected_by_claims_and_other_updates(repo, captioned):
    image_id = captioned["bicycle"]
    claim = repo.claim(image_id, Job.THUMBNAIL, LEASE)
    repo.finish(claim, {"thumbnail_key": "thumbnails/b.jpg"})
    repo.reset_for_retry(image_id, LEASE)
    assert search(repo, "harbour") == {image_id}


# --- concurrency ---


@pytest.mark.parametrize("job", list(Job))
def test_concurrent_claims_of_one_job_yield_exactly_one_claim(repo, job):
    record = repo.insert(new_image())
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[Claim | None] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=10)
            outcome = repo.claim(record.id, job, LEASE)
        except BaseException as error:  # reported below, not lost in the thread
            with lock:
                errors.append(error)
            return
        with lock:
            results.append(outcome)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == threads
    claims = [result for result in results if result is not None]
    assert len(claims) == 1
    stored = repo.get(record.id)
    assert stored.job_state(job) is JobState.PROCESSING
    assert getattr(stored, f"{job}_attempts") == 1
    assert getattr(stored, f"{job}_started_at") == claims[0].started_at
