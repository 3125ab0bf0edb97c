"""The image repository: every SQL statement the system runs, as domain verbs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from annotation_core.errors import ImageNotFoundError, ProviderNotConfiguredError
from annotation_core.records import UNFINISHED_STATES, ImageRecord, Job, JobState
from annotation_core.schema import images
from annotation_core.search import text_match


def utcnow() -> datetime:
    """Naive UTC with microseconds, as both databases store it."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class NewImage:
    """What an upload knows before it has an id."""

    original_key: str
    filename: str
    mime_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    uploaded_by: int | None = None


@dataclass(frozen=True)
class Claim:
    """Proof that one worker owns a job; its start time is the token later updates must match."""

    image_id: int
    job: Job
    started_at: datetime
    attempt: int  # this attempt's number, counting from 1


@dataclass(frozen=True)
class TakenPosition:
    """Where a page sorted by date taken ended: its last image's `taken_at` (None: among the undated) and id."""

    taken_at: datetime | None
    image_id: int


class ImageRepository:
    """Insert, read, page and search images, and move their jobs through their states."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def insert(self, new: NewImage) -> ImageRecord:
        """Store a new image with both jobs pending; raises IntegrityError on a duplicate key or hash."""
        now = utcnow()
        queued = {_column(job, "queued_at"): now for job in Job}
        values = {**{images.c[name]: value for name, value in new.__dict__.items()}, **queued}
        values.update({images.c.uploaded_at: now, images.c.updated_at: now})
        with self.engine.begin() as conn:
            image_id = conn.execute(images.insert().values(values)).inserted_primary_key[0]
        return self.get(image_id)

    def find(self, image_id: int) -> ImageRecord | None:
        return self._one(images.c.id == image_id)

    def get(self, image_id: int) -> ImageRecord:
        """Return the image or raise ImageNotFoundError."""
        record = self.find(image_id)
        if record is None:
            raise ImageNotFoundError(f"No image has id {image_id}.")
        return record

    def find_many(self, image_ids: list[int]) -> list[ImageRecord]:
        """The images among `image_ids` that exist, newest first (one query for a whole gallery's polling)."""
        if not image_ids:
            return []
        statement = _SELECT_RECORDS.where(images.c.id.in_(image_ids)).order_by(images.c.id.desc())
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(statement)]

    def find_by_original_key(self, key: str) -> ImageRecord | None:
        return self._one(images.c.original_key == key)

    def find_by_sha256(self, digest: str) -> ImageRecord | None:
        return self._one(images.c.sha256 == digest)

    def page(
        self, *, before_id: int | None = None, limit: int = 48, query: str = "", status: JobState | None = None
    ) -> list[ImageRecord]:
        """Newest first, keyset-paged by id (ids grow with upload time), optionally searched and filtered."""
        statement = _SELECT_RECORDS.order_by(images.c.id.desc()).limit(limit)
        if before_id is not None:
            statement = statement.where(images.c.id < before_id)
        # A status filter drops matches after the search, so the search may only be cut short without one.
        match = text_match(self.engine.dialect.name, query, before_id, None if status else limit)
        if match is not None:
            statement = statement.where(match)
        if status is JobState.FAILED and match is None:
            statement = statement.where(images.c.id.in_(_newest_failed_ids(before_id, limit)))
        elif status is not None:
            statement = statement.where(_overall_status_is(status))
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(statement)]

    def page_by_taken(
        self, *, after: TakenPosition | None = None, limit: int = 48, query: str = "", status: JobState | None = None
    ) -> list[ImageRecord]:
        """Newest taken first, keyset-paged on (taken_at, id) by the index of those columns; images with no date
        taken (no EXIF date, or not read yet) come after all dated ones, newest upload first.

        Each part is one range scan of the index: the dated images after `after`, then, if the page is not
        full, the undated ones (NULLs sort first in both databases, so they are the index's other end).
        """
        taken, image_id = images.c.taken_at, images.c.id
        base = _SELECT_RECORDS
        match = text_match(self.engine.dialect.name, query)
        if match is not None:
            base = base.where(match)
        if status is not None:
            base = base.where(_overall_status_is(status))
        records: list[ImageRecord] = []
        with self.engine.connect() as conn:
            if after is None or after.taken_at is not None:
                dated = base.where(taken.is_not(None))
                if after is not None:  # (taken_at, id) < (t, i), in a form both databases scan as one range
                    dated = dated.where(
                        taken <= after.taken_at, sa.or_(taken < after.taken_at, image_id < after.image_id)
                    )
                dated = dated.order_by(taken.desc(), image_id.desc()).limit(limit)
                records = [_record(row) for row in conn.execute(dated)]
            if len(records) < limit:
                undated = base.where(taken.is_(None))
                if after is not None and after.taken_at is None:
                    undated = undated.where(image_id < after.image_id)
                undated = undated.order_by(image_id.desc()).limit(limit - len(records))
                records += [_record(row) for row in conn.execute(undated)]
        return records

    def lacking_renditions(self, *, after_id: int = 0, limit: int = 100) -> list[int]:
        """Ids above `after_id`, oldest first, of images whose thumbnail job made no preview (made before
        renditions existed) and has not failed: what the renditions backfill re-renders."""
        statement = (
            sa.select(images.c.id).where(_lacks_renditions(), images.c.id > after_id).order_by(images.c.id).limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(statement).scalars())

    def count_lacking_renditions(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(_lacks_renditions())).scalar_one()

    def queue_again(self, image_ids: list[int], job: Job) -> int:
        """Put `job` of these images back to pending, due now, where it completed; returns how many."""
        statement = (
            images.update()
            .where(images.c.id.in_(image_ids), _column(job, "status") == JobState.COMPLETED)
            .values(_fresh_job(job, utcnow()))
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount

    def claim(self, image_id: int, job: Job, lease_seconds: int) -> Claim | None:
        """Take a pending job that is due, or a processing one whose lease expired; None if there is none."""
        now = utcnow()
        state, started, attempts = _column(job, "status"), _column(job, "started_at"), _column(job, "attempts")
        due = _column(job, "next_attempt_at")
        claimable = sa.or_(
            sa.and_(state == JobState.PENDING, sa.or_(due.is_(None), due <= now)),
            sa.and_(state == JobState.PROCESSING, started < now - timedelta(seconds=lease_seconds)),
        )
        statement = (
            images.update()
            .where(images.c.id == image_id, claimable)
            .values(
                {
                    state: JobState.PROCESSING,
                    started: now,
                    attempts: attempts + 1,
                    due: None,
                    _column(job, "finished_at"): None,
                    images.c.updated_at: now,
                }
            )
        )
        with self.engine.begin() as conn:
            if conn.execute(statement).rowcount != 1:
                return None
            attempt = conn.execute(sa.select(attempts).where(images.c.id == image_id)).scalar_one()
        return Claim(image_id, job, now, attempt)

    def finish(self, claim: Claim, results: Mapping[str, Any]) -> bool:
        """Record a job's results; False if the claim was lost (lease taken over, or image deleted)."""
        values = {images.c[name]: value for name, value in results.items()}
        return self._settle(claim, JobState.COMPLETED, {**values, _column(claim.job, "error"): None})

    def fail(self, claim: Claim, error: str) -> bool:
        """Mark a claimed job failed for good, with text that says what to do."""
        return self._settle(claim, JobState.FAILED, {_column(claim.job, "error"): error[:2000]})

    def retry_later(self, claim: Claim, error: str, next_attempt_at: datetime, *, refund: bool = False) -> bool:
        """Put a claimed job back to pending until `next_attempt_at`, keeping `error` as the last reason.

        With `refund`, the attempt does not count (the service was rate-limiting, not failing).
        """
        job = claim.job
        values = {
            _column(job, "error"): error[:2000],
            _column(job, "next_attempt_at"): next_attempt_at,
            _column(job, "attempts"): _column(job, "attempts") - (1 if refund else 0),
        }
        return self._settle(claim, JobState.PENDING, values, finished=False)

    def reset_for_retry(self, image_id: int, lease_seconds: int) -> list[Job]:
        """A user's Retry: failed jobs, jobs stuck in processing past their lease and jobs waiting to retry
        go back to pending, due now, with their attempts counted afresh. Returns the jobs reset."""
        now = utcnow()
        reset = []
        with self.engine.begin() as conn:
            for job in Job:
                statement = (
                    images.update()
                    .where(images.c.id == image_id, _retryable(job, now, lease_seconds))
                    .values(_fresh_job(job, now))
                )
                if conn.execute(statement).rowcount == 1:
                    reset.append(job)
        return reset

    def requeue(self, image_id: int, job: Job, lease_seconds: int) -> bool:
        """Queue a job anew whatever it last ended in (e.g. regenerate a completed caption); False while a
        worker holds it within its lease, or if there is no such image."""
        now = utcnow()
        state = _column(job, "status")
        held = sa.and_(
            state == JobState.PROCESSING, _column(job, "started_at") >= now - timedelta(seconds=lease_seconds)
        )
        statement = images.update().where(images.c.id == image_id, sa.not_(held)).values(_fresh_job(job, now))
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def reset_failed(
        self, image_ids: list[int] | None = None, limit: int = 1000, *, uploaded_by: int | None = None
    ) -> list[tuple[int, Job]]:
        """Put failed jobs back to pending, due now: of the given images, or of the newest `limit` failed ones;
        with `uploaded_by`, only of that user's images."""
        now = utcnow()
        reset: list[tuple[int, Job]] = []
        with self.engine.begin() as conn:
            for job in Job:
                state = _column(job, "status")
                found = sa.select(images.c.id).where(state == JobState.FAILED)
                if image_ids is not None:
                    found = found.where(images.c.id.in_(image_ids))
                if uploaded_by is not None:
                    found = found.where(images.c.uploaded_by == uploaded_by)
                ids = list(conn.execute(found.order_by(images.c.id.desc()).limit(limit)).scalars())
                if not ids:
                    continue
                statement = (
                    images.update().where(images.c.id.in_(ids), state == JobState.FAILED).values(_fresh_job(job, now))
                )
                conn.execute(statement)
                reset.extend((image_id, job) for image_id in ids)
        return reset

    def waiting_for_setup(self, job: Job) -> int:
        """How many of this job wait for someone to configure what it needs (a caption provider)."""
        statement = sa.select(sa.func.count()).select_from(images).where(_waits_for_setup(job))
        with self.engine.connect() as conn:
            return conn.execute(statement).scalar_one()

    def wake_waiting_for_setup(self, job: Job) -> int:
        """Make the jobs waiting for setup due now (it has just been done); returns how many."""
        statement = images.update().where(_waits_for_setup(job)).values({_column(job, "next_attempt_at"): utcnow()})
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount

    def due_jobs(self, job: Job, *, lease_seconds: int, lost_after: float, limit: int) -> list[int]:
        """Ids of images whose `job` should run now but may have no event on its way, oldest first:
        pending past its next attempt time, pending and unclaimed for `lost_after` seconds (a lost event),
        or processing past its lease (the worker died or timed out)."""
        now = utcnow()
        state, due = _column(job, "status"), _column(job, "next_attempt_at")
        lost = sa.and_(due.is_(None), _column(job, "queued_at") <= now - timedelta(seconds=lost_after))
        condition = sa.or_(
            sa.and_(state == JobState.PENDING, sa.or_(due <= now, lost)),
            sa.and_(state == JobState.PROCESSING, _column(job, "started_at") < now - timedelta(seconds=lease_seconds)),
        )
        statement = sa.select(images.c.id).where(condition).order_by(images.c.id).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(statement).scalars())

    def next_attempt_at(self) -> datetime | None:
        """When the soonest job waiting to retry becomes due (None if no job is waiting)."""
        times = [
            sa.select(sa.func.min(_column(job, "next_attempt_at"))).where(_column(job, "status") == JobState.PENDING)
            for job in Job
        ]
        with self.engine.connect() as conn:
            found = [conn.execute(statement).scalar() for statement in times]
        return min((moment for moment in found if moment is not None), default=None)

    def uploads_since(self, user_id: int, since: datetime) -> tuple[int, datetime | None]:
        """How many images the user uploaded since `since`, and when the first of them was."""
        statement = sa.select(sa.func.count(), sa.func.min(images.c.uploaded_at)).where(
            images.c.uploaded_by == user_id, images.c.uploaded_at > since
        )
        with self.engine.connect() as conn:
            count, first = conn.execute(statement).one()
        return count, first

    def delete(self, image_id: int) -> ImageRecord | None:
        """Remove the row and return what it held (for deleting its objects), or None if absent."""
        record = self.find(image_id)
        if record is None:
            return None
        with self.engine.begin() as conn:
            deleted = conn.execute(images.delete().where(images.c.id == image_id)).rowcount == 1
        return record if deleted else None

    def _settle(self, claim: Claim, state: JobState, values: dict, *, finished: bool = True) -> bool:
        now = utcnow()
        statement = (
            images.update()
            .where(
                images.c.id == claim.image_id,
                _column(claim.job, "status") == JobState.PROCESSING,
                _column(claim.job, "started_at") == claim.started_at,
            )
            .values(
                {
                    **values,
                    _column(claim.job, "status"): state,
                    _column(claim.job, "finished_at"): now if finished else None,
                    images.c.updated_at: now,
                }
            )
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def _one(self, condition: sa.ColumnElement[bool]) -> ImageRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_SELECT_RECORDS.where(condition)).first()
        return _record(row) if row else None


def _column(job: Job, suffix: str) -> sa.Column:
    return images.c[f"{job}_{suffix}"]


def _retryable(job: Job, now: datetime, lease_seconds: int) -> sa.ColumnElement[bool]:
    """Failed, stuck in processing past its lease, or pending until a later attempt."""
    state = _column(job, "status")
    return sa.or_(
        state == JobState.FAILED,
        sa.and_(state == JobState.PROCESSING, _column(job, "started_at") < now - timedelta(seconds=lease_seconds)),
        sa.and_(state == JobState.PENDING, _column(job, "next_attempt_at") > now),
    )


def _waits_for_setup(job: Job) -> sa.ColumnElement[bool]:
    return sa.and_(
        _column(job, "status") == JobState.PENDING,
        _column(job, "next_attempt_at").is_not(None),
        _column(job, "error").startswith(ProviderNotConfiguredError.PREFIX, autoescape=True),
    )


def _fresh_job(job: Job, now: datetime) -> dict:
    """The columns of a job queued anew by a user: pending, due now, no attempts yet, no error."""
    return {
        _column(job, "status"): JobState.PENDING,
        _column(job, "error"): None,
        _column(job, "attempts"): 0,
        _column(job, "next_attempt_at"): None,
        _column(job, "queued_at"): now,
        images.c.updated_at: now,
    }


def _lacks_renditions() -> sa.ColumnElement[bool]:
    return sa.and_(images.c.preview_key.is_(None), images.c.thumbnail_status != JobState.FAILED)


def _overall_status_is(status: JobState) -> sa.ColumnElement[bool]:
    """SQL form of `records.overall_status`, so filtering agrees with what the page shows."""
    thumb, caption = images.c.thumbnail_status, images.c.caption_status
    unfinished = sa.or_(thumb.in_(UNFINISHED_STATES), caption.in_(UNFINISHED_STATES))
    if status in UNFINISHED_STATES:
        return unfinished
    if status is JobState.FAILED:
        return sa.and_(sa.not_(unfinished), sa.or_(thumb == JobState.FAILED, caption == JobState.FAILED))
    return sa.and_(thumb == JobState.COMPLETED, caption == JobState.COMPLETED)


# Columns in the record's field order, so rows become records positionally (twice as fast as by name).
_SELECT_RECORDS = sa.select(*(images.c[field.name] for field in dataclasses.fields(ImageRecord)))


def _newest_failed_ids(before_id: int | None, limit: int) -> sa.Select:
    """The newest `limit` failed images, from two scans of the job-state indexes in id order.

    Without it the database collects every failed row and sorts them all; here each scan stops after
    `limit` rows. Each branch is wrapped as a subquery: SQLite allows no LIMIT inside a UNION member and
    MySQL none inside an IN subquery.
    """
    finished = (JobState.COMPLETED, JobState.FAILED)
    branches = []
    for failed_job, other_job in (
        (images.c.thumbnail_status, images.c.caption_status),
        (images.c.caption_status, images.c.thumbnail_status),
    ):
        branch = sa.select(images.c.id).where(failed_job == JobState.FAILED, other_job.in_(finished))
        if before_id is not None:
            branch = branch.where(images.c.id < before_id)
        newest = branch.order_by(images.c.id.desc()).limit(limit).subquery()
        branches.append(sa.select(newest.c.id))
    union = sa.union(*branches).subquery()
    return sa.select(union.c.id)


def _record(row: sa.Row) -> ImageRecord:
    return ImageRecord(*row)
