"""The job half of the image repository: the SQL that moves a job through pending, processing, completed and
failed. Every transition is one conditional UPDATE, so two workers never both own a job and a worker that lost
its lease cannot overwrite the one that took it over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from annotation_core.errors import ProviderNotConfiguredError
from annotation_core.records import Job, JobState
from annotation_core.schema import images

# Images in the trash are left alone: no job is claimed, announced or retried for them.
LIVE = images.c.deleted_at.is_(None)


def utcnow() -> datetime:
    """Naive UTC with microseconds, as both databases store it."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Claim:
    """Proof that one worker owns a job; its start time is the token later updates must match."""

    image_id: int
    job: Job
    started_at: datetime
    attempt: int  # this attempt's number, counting from 1


class JobStore:
    """Job-state verbs over the images table; ImageRepository holds the engine."""

    engine: sa.Engine

    def queue_again(self, image_ids: list[int], job: Job) -> int:
        """Put `job` of these images back to pending, due now, where it completed; returns how many."""
        statement = (
            images.update()
            .where(images.c.id.in_(image_ids), column(job, "status") == JobState.COMPLETED, LIVE)
            .values(_fresh_job(job, utcnow()))
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount

    def claim(self, image_id: int, job: Job, lease_seconds: int) -> Claim | None:
        """Take a pending job that is due, or a processing one whose lease expired; None if there is none."""
        now = utcnow()
        state, started, attempts = column(job, "status"), column(job, "started_at"), column(job, "attempts")
        due = column(job, "next_attempt_at")
        claimable = sa.or_(
            sa.and_(state == JobState.PENDING, sa.or_(due.is_(None), due <= now)),
            sa.and_(state == JobState.PROCESSING, started < now - timedelta(seconds=lease_seconds)),
        )
        statement = (
            images.update()
            .where(images.c.id == image_id, claimable, LIVE)
            .values(
                {
                    state: JobState.PROCESSING,
                    started: now,
                    attempts: attempts + 1,
                    due: None,
                    column(job, "finished_at"): None,
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
        return self._settle(claim, JobState.COMPLETED, {**values, column(claim.job, "error"): None})

    def fail(self, claim: Claim, error: str) -> bool:
        """Mark a claimed job failed for good, with text that says what to do."""
        return self._settle(claim, JobState.FAILED, {column(claim.job, "error"): error[:2000]})

    def retry_later(self, claim: Claim, error: str, next_attempt_at: datetime, *, refund: bool = False) -> bool:
        """Put a claimed job back to pending until `next_attempt_at`, keeping `error` as the last reason.

        With `refund`, the attempt does not count (the service was rate-limiting, not failing).
        """
        job = claim.job
        values = {
            column(job, "error"): error[:2000],
            column(job, "next_attempt_at"): next_attempt_at,
            column(job, "attempts"): column(job, "attempts") - (1 if refund else 0),
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
                    .where(images.c.id == image_id, _retryable(job, now, lease_seconds), LIVE)
                    .values(_fresh_job(job, now))
                )
                if conn.execute(statement).rowcount == 1:
                    reset.append(job)
        return reset

    def requeue(self, image_id: int, job: Job, lease_seconds: int) -> bool:
        """Queue a job anew whatever it last ended in (e.g. regenerate a completed caption); False while a
        worker holds it within its lease, or if there is no such image."""
        now = utcnow()
        state = column(job, "status")
        held = sa.and_(
            state == JobState.PROCESSING, column(job, "started_at") >= now - timedelta(seconds=lease_seconds)
        )
        statement = images.update().where(images.c.id == image_id, sa.not_(held), LIVE).values(_fresh_job(job, now))
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
                state = column(job, "status")
                found = sa.select(images.c.id).where(state == JobState.FAILED, LIVE)
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
        statement = sa.select(sa.func.count()).select_from(images).where(_waits_for_setup(job), LIVE)
        with self.engine.connect() as conn:
            return conn.execute(statement).scalar_one()

    def wake_waiting_for_setup(self, job: Job) -> int:
        """Make the jobs waiting for setup due now (it has just been done); returns how many.

        The waiting rows are found by a plain read, and only they are updated: an UPDATE with this condition
        would scan, and on MySQL lock, every row of the table, and Lambda containers starting together (each
        wakes once) then deadlocked with each other's claims."""
        waiting = sa.select(images.c.id).where(_waits_for_setup(job))
        with self.engine.begin() as conn:
            ids = list(conn.execute(waiting).scalars())
            if not ids:
                return 0
            statement = (
                images.update()
                .where(images.c.id.in_(ids), _waits_for_setup(job))
                .values({column(job, "next_attempt_at"): utcnow()})
            )
            return conn.execute(statement).rowcount

    def due_jobs(self, job: Job, *, lease_seconds: int, lost_after: float, limit: int) -> list[int]:
        """Ids of images whose `job` should run now but may have no event on its way, oldest first:
        pending past its next attempt time, pending and unclaimed for `lost_after` seconds (a lost event),
        or processing past its lease (the worker died or timed out)."""
        now = utcnow()
        state, due = column(job, "status"), column(job, "next_attempt_at")
        lost = sa.and_(due.is_(None), column(job, "queued_at") <= now - timedelta(seconds=lost_after))
        condition = sa.or_(
            sa.and_(state == JobState.PENDING, sa.or_(due <= now, lost)),
            sa.and_(state == JobState.PROCESSING, column(job, "started_at") < now - timedelta(seconds=lease_seconds)),
        )
        statement = sa.select(images.c.id).where(condition, LIVE).order_by(images.c.id).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(statement).scalars())

    def next_attempt_at(self) -> datetime | None:
        """When the soonest job waiting to retry becomes due (None if no job is waiting)."""
        times = [
            sa.select(sa.func.min(column(job, "next_attempt_at"))).where(
                column(job, "status") == JobState.PENDING, LIVE
            )
            for job in Job
        ]
        with self.engine.connect() as conn:
            found = [conn.execute(statement).scalar() for statement in times]
        return min((moment for moment in found if moment is not None), default=None)

    def next_lease_expiry(self, lease_seconds: int) -> datetime | None:
        """When the oldest lease of a processing job runs out (None if no job is processing): a worker killed
        mid-job leaves it so, and the sweeper must come back for it then."""
        starts = [
            sa.select(sa.func.min(column(job, "started_at"))).where(column(job, "status") == JobState.PROCESSING, LIVE)
            for job in Job
        ]
        with self.engine.connect() as conn:
            found = [conn.execute(statement).scalar() for statement in starts]
        oldest = min((moment for moment in found if moment is not None), default=None)
        return None if oldest is None else oldest + timedelta(seconds=lease_seconds)

    def _settle(self, claim: Claim, state: JobState, values: dict, *, finished: bool = True) -> bool:
        now = utcnow()
        statement = (
            images.update()
            .where(
                images.c.id == claim.image_id,
                column(claim.job, "status") == JobState.PROCESSING,
                column(claim.job, "started_at") == claim.started_at,
            )
            .values(
                {
                    **values,
                    column(claim.job, "status"): state,
                    column(claim.job, "finished_at"): now if finished else None,
                    images.c.updated_at: now,
                }
            )
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1


def column(job: Job, suffix: str) -> sa.Column:
    return images.c[f"{job}_{suffix}"]


def _retryable(job: Job, now: datetime, lease_seconds: int) -> sa.ColumnElement[bool]:
    """Failed, stuck in processing past its lease, or pending until a later attempt."""
    state = column(job, "status")
    return sa.or_(
        state == JobState.FAILED,
        sa.and_(state == JobState.PROCESSING, column(job, "started_at") < now - timedelta(seconds=lease_seconds)),
        sa.and_(state == JobState.PENDING, column(job, "next_attempt_at") > now),
    )


def _waits_for_setup(job: Job) -> sa.ColumnElement[bool]:
    return sa.and_(
        column(job, "status") == JobState.PENDING,
        column(job, "next_attempt_at").is_not(None),
        column(job, "error").startswith(ProviderNotConfiguredError.PREFIX, autoescape=True),
    )


def _fresh_job(job: Job, now: datetime) -> dict:
    """The columns of a job queued anew by a user: pending, due now, no attempts yet, no error."""
    return {
        column(job, "status"): JobState.PENDING,
        column(job, "error"): None,
        column(job, "attempts"): 0,
        column(job, "next_attempt_at"): None,
        column(job, "queued_at"): now,
        images.c.updated_at: now,
    }
