"""After a load test: is every accepted upload kept, processed and findable, and nothing else left behind?

Read straight from the database and the two bucket folders, not through the app: one row per accepted
upload (and no others), its original, its renditions (grid, preview, placeholder), a caption that completed
or failed with a reason, no half-written temporary files, and how many jobs needed more than one attempt.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from annotation_core.bootstrap import Services
from annotation_core.records import JobState
from annotation_core.schema import images
from annotation_core.storage import TEMPORARY_PREFIX

UNFINISHED = (JobState.PENDING, JobState.PROCESSING)


@dataclass
class Audit:
    rows: int = 0
    lost: int = 0  # accepted, but a row, object, rendition or caption outcome is missing
    unsettled: int = 0  # jobs still pending or processing when the wait ended (counted in lost too)
    redone: int = 0  # jobs that took more than one attempt
    captions_failed: int = 0
    stray_objects: int = 0
    temporary_files: int = 0
    problems: list[str] = field(default_factory=list)


def wait_until_settled(services: Services, ids: list[int], timeout: float) -> bool:
    """Wait until no job of these images is pending or processing; False if time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _unsettled(services, ids):
            return True
        time.sleep(0.5)
    return False


def audit(services: Services, accepted: dict[int, str]) -> Audit:
    """Check the images `accepted` names (id -> sha256 of the bytes sent) against what is stored."""
    result = Audit()
    with services.engine.connect() as conn:
        result.rows = conn.execute(sa.select(sa.func.count()).select_from(images)).scalar_one()
        by_bytes = sa.select(images.c.sha256, sa.func.count()).group_by(images.c.sha256)
        per_sha = Counter(dict(conn.execute(by_bytes).all()))
    records = {record.id: record for record in services.repository.find_many(list(accepted))}
    for image_id, sha256 in accepted.items():
        record = records.get(image_id)
        missing = _what_is_missing(services, record, sha256, per_sha[sha256])
        if missing:
            result.lost += 1
            result.problems.append(f"image {image_id}: {missing}")
        if record is None:
            continue
        result.unsettled += record.thumbnail_status in UNFINISHED or record.caption_status in UNFINISHED
        result.redone += (record.thumbnail_attempts > 1) + (record.caption_attempts > 1)
        result.captions_failed += record.caption_status is JobState.FAILED
    if result.rows != len(accepted):
        result.problems.append(f"{result.rows} rows for {len(accepted)} accepted uploads")
    kept = {record.original_key for record in records.values()}
    kept |= {key for record in records.values() for key in (record.thumbnail_key, record.preview_key)}
    for store in (services.originals, services.thumbnails):
        for path in store.root.rglob("*"):
            if path.is_file() and path.name.startswith(TEMPORARY_PREFIX):
                result.temporary_files += 1
            elif path.is_file() and path.relative_to(store.root).as_posix() not in kept:
                result.stray_objects += 1
    if result.temporary_files or result.stray_objects:
        result.problems.append(f"{result.stray_objects} stray objects, {result.temporary_files} temporary files")
    return result


def _what_is_missing(services: Services, record, sha256: str, rows_with_sha: int) -> str:
    if record is None:
        return "no row"
    if rows_with_sha != 1 or record.sha256 != sha256:
        return f"{rows_with_sha} rows hold its bytes"
    if not services.originals.exists(record.original_key):
        return "no original"
    if record.thumbnail_status is not JobState.COMPLETED:
        return f"thumbnail {record.thumbnail_status}: {record.thumbnail_error}"
    renditions = (record.thumbnail_key, record.preview_key)
    if not all(key and services.thumbnails.exists(key) for key in renditions) or not record.placeholder:
        return "a rendition is missing"
    if record.caption_status is JobState.COMPLETED and not record.caption:
        return "caption completed without text"
    if record.caption_status is JobState.FAILED and not record.caption_error:
        return "caption failed without a reason"
    if record.caption_status in UNFINISHED:
        return f"caption still {record.caption_status}"
    return ""


def _unsettled(services: Services, ids: list[int]) -> int:
    condition = sa.or_(images.c.thumbnail_status.in_(UNFINISHED), images.c.caption_status.in_(UNFINISHED))
    statement = sa.select(sa.func.count()).select_from(images).where(images.c.id.in_(ids), condition)
    with services.engine.connect() as conn:
        return conn.execute(statement).scalar_one()
