"""The image record, its two jobs and the rules that derive one overall status from them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Job(enum.StrEnum):
    """The two independent jobs every image gets."""

    THUMBNAIL = "thumbnail"
    CAPTION = "caption"


class JobState(enum.StrEnum):
    """`pending -> processing -> completed | failed`; a failed job can be reset to pending."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


UNFINISHED_STATES = (JobState.PENDING, JobState.PROCESSING)


def overall_status(thumbnail: JobState, caption: JobState) -> JobState:
    """Derive what users see: processing while any job runs, failed if any failed, else completed."""
    states = {JobState(thumbnail), JobState(caption)}
    if states & set(UNFINISHED_STATES):
        return JobState.PROCESSING
    if JobState.FAILED in states:
        return JobState.FAILED
    return JobState.COMPLETED


@dataclass(frozen=True)
class ImageRecord:
    """One uploaded image as stored in the metadata database."""

    id: int
    original_key: str
    filename: str
    mime_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    uploaded_at: datetime
    updated_at: datetime
    thumbnail_status: JobState
    thumbnail_key: str | None
    thumbnail_error: str | None
    thumbnail_attempts: int
    thumbnail_started_at: datetime | None
    thumbnail_finished_at: datetime | None
    caption_status: JobState
    caption: str | None
    caption_model: str | None
    caption_error: str | None
    caption_attempts: int
    caption_started_at: datetime | None
    caption_finished_at: datetime | None

    @property
    def status(self) -> JobState:
        return overall_status(self.thumbnail_status, self.caption_status)

    def job_state(self, job: Job) -> JobState:
        return JobState(getattr(self, f"{job}_status"))
