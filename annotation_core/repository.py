"""The image repository: the SQL that stores, reads, pages and searches images (job transitions: job_store.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from annotation_core.errors import ImageNotFoundError
from annotation_core.job_store import LIVE, JobStore, column, utcnow
from annotation_core.records import UNFINISHED_STATES, ImageRecord, Job, JobState
from annotation_core.schema import images
from annotation_core.search import text_match


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


# What `deleted_at` holds while the sweeper purges an image: too late to restore it from then on. The purge
# claims a row by setting it (a conditional UPDATE, which a restore racing it cannot also win), deletes the
# objects, then the row; a purge stopped part-way is taken up again by the next sweep.
PURGING = datetime(1970, 1, 1)


@dataclass(frozen=True)
class TakenPosition:
    """Where a page sorted by date taken ended: its last image's `taken_at` (None: among the undated) and id."""

    taken_at: datetime | None
    image_id: int


class ImageRepository(JobStore):
    """Insert, read, page and search images; their jobs move through their states by JobStore's verbs."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def insert(self, new: NewImage) -> ImageRecord:
        """Store a new image with both jobs pending; raises IntegrityError on a duplicate key or hash."""
        now = utcnow()
        queued = {column(job, "queued_at"): now for job in Job}
        values = {**{images.c[name]: value for name, value in new.__dict__.items()}, **queued}
        values.update({images.c.uploaded_at: now, images.c.updated_at: now})
        with self.engine.begin() as conn:
            image_id = conn.execute(images.insert().values(values)).inserted_primary_key[0]
        return self.get(image_id)

    def find(self, image_id: int, *, include_trashed: bool = False) -> ImageRecord | None:
        """The image, or None; an image in the trash counts as gone unless `include_trashed`."""
        condition = images.c.id == image_id
        return self._one(condition if include_trashed else sa.and_(condition, LIVE))

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
        statement = _SELECT_RECORDS.where(images.c.id.in_(image_ids), LIVE).order_by(images.c.id.desc())
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(statement)]

    def find_by_original_key(self, key: str) -> ImageRecord | None:
        return self._one(sa.and_(images.c.original_key == key, LIVE))

    def find_by_sha256(self, digest: str) -> ImageRecord | None:
        """The image holding these bytes, in the trash or not (the hash is unique either way)."""
        return self._one(images.c.sha256 == digest)

    def page(
        self, *, before_id: int | None = None, limit: int = 48, query: str = "", status: JobState | None = None
    ) -> list[ImageRecord]:
        """Newest first, keyset-paged by id (ids grow with upload time), optionally searched and filtered.

        The page's ids are chosen first, from indexes alone, and only then are their rows read: MariaDB, asked
        for whole rows of "live, below this id", reads the trash index's entries for every live row above it
        (5 s for a deep page of a million), where the ids alone come from one range read.
        """
        chosen = sa.select(images.c.id).where(LIVE).order_by(images.c.id.desc()).limit(limit)
        if before_id is not None:
            chosen = chosen.where(images.c.id < before_id)
        with self.engine.connect() as conn:
            # A status filter drops matches after the search, so the search may only be cut short without one.
            match = text_match(conn, query, before_id, None if status else limit)
            if match is not None:
                chosen = chosen.where(match)
            if status is JobState.FAILED and match is None:
                chosen = chosen.where(images.c.id.in_(_newest_failed_ids(before_id, limit)))
            elif status is not None:
                chosen = chosen.where(_overall_status_is(status))
            page = chosen.subquery()
            statement = _SELECT_RECORDS.join(page, images.c.id == page.c.id).order_by(images.c.id.desc())
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
        base = _SELECT_RECORDS.where(LIVE)
        if status is not None:
            base = base.where(_overall_status_is(status))
        records: list[ImageRecord] = []
        with self.engine.connect() as conn:
            match = text_match(conn, query)
            if match is not None:
                base = base.where(match)
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
            sa.select(images.c.id)
            .where(_lacks_renditions(), images.c.id > after_id, LIVE)
            .order_by(images.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(statement).scalars())

    def count_lacking_renditions(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(_lacks_renditions(), LIVE)).scalar_one()

    def uploads_since(self, user_id: int, since: datetime) -> tuple[int, datetime | None]:
        """How many images the user uploaded since `since`, and when the first of them was."""
        statement = sa.select(sa.func.count(), sa.func.min(images.c.uploaded_at)).where(
            images.c.uploaded_by == user_id, images.c.uploaded_at > since
        )
        with self.engine.connect() as conn:
            count, first = conn.execute(statement).one()
        return count, first

    def delete(self, image_id: int) -> ImageRecord | None:
        """Remove the row (in the trash or not) and return what it held (for deleting its objects), or None."""
        record = self.find(image_id, include_trashed=True)
        if record is None:
            return None
        with self.engine.begin() as conn:
            deleted = conn.execute(images.delete().where(images.c.id == image_id)).rowcount == 1
        return record if deleted else None

    def trash(self, image_ids: list[int], *, uploaded_by: int | None = None) -> list[int]:
        """Move these images to the trash (with `uploaded_by`, only that user's); returns the ids moved, newest
        first. Unknown ids and images already in the trash are left out."""
        now = utcnow()
        chosen = [images.c.id.in_(image_ids), LIVE]
        if uploaded_by is not None:
            chosen.append(images.c.uploaded_by == uploaded_by)
        with self.engine.begin() as conn:
            ids = list(conn.execute(sa.select(images.c.id).where(*chosen).order_by(images.c.id.desc())).scalars())
            if ids:
                conn.execute(images.update().where(images.c.id.in_(ids), LIVE).values(deleted_at=now, updated_at=now))
        return ids

    def restore(self, image_ids: list[int], *, uploaded_by: int | None = None) -> list[int]:
        """Take these images out of the trash (with `uploaded_by`, only that user's), unless their purge has
        begun; returns the ids restored, newest first."""
        chosen = [images.c.id.in_(image_ids), images.c.deleted_at > PURGING]
        if uploaded_by is not None:
            chosen.append(images.c.uploaded_by == uploaded_by)
        with self.engine.begin() as conn:
            ids = list(conn.execute(sa.select(images.c.id).where(*chosen).order_by(images.c.id.desc())).scalars())
            if ids:
                restored = images.update().where(images.c.id.in_(ids), images.c.deleted_at > PURGING)
                conn.execute(restored.values(deleted_at=None, updated_at=utcnow()))
        return ids

    def expired_trash(self, trashed_before: datetime, *, lease_seconds: int, limit: int) -> list[int]:
        """Ids of images in the trash since before `trashed_before` (or whose purge stopped part-way), oldest
        first, leaving out any whose job a worker still holds within its lease (it would write objects back)."""
        now = utcnow()
        held = [
            sa.and_(
                column(job, "status") == JobState.PROCESSING,
                column(job, "started_at") >= now - timedelta(seconds=lease_seconds),
            )
            for job in Job
        ]
        statement = (
            sa.select(images.c.id)
            .where(images.c.deleted_at <= trashed_before, sa.not_(sa.or_(*held)))
            .order_by(images.c.deleted_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(statement).scalars())

    def begin_purge(self, image_id: int, trashed_before: datetime) -> ImageRecord | None:
        """Claim an image in the trash since before `trashed_before` for purging (no restore wins after this);
        returns its record for deleting its objects, or None if it was restored or is gone."""
        statement = (
            images.update()
            .where(images.c.id == image_id, images.c.deleted_at <= trashed_before)
            .values(deleted_at=PURGING)
        )
        with self.engine.begin() as conn:
            if conn.execute(statement).rowcount != 1:
                return None
        return self.find(image_id, include_trashed=True)

    def _one(self, condition: sa.ColumnElement[bool]) -> ImageRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_SELECT_RECORDS.where(condition)).first()
        return _record(row) if row else None


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
        branch = sa.select(images.c.id).where(failed_job == JobState.FAILED, other_job.in_(finished), LIVE)
        if before_id is not None:
            branch = branch.where(images.c.id < before_id)
        newest = branch.order_by(images.c.id.desc()).limit(limit).subquery()
        branches.append(sa.select(newest.c.id))
    union = sa.union(*branches).subquery()
    return sa.select(union.c.id)


def _record(row: sa.Row) -> ImageRecord:
    return ImageRecord(*row)
