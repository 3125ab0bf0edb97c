"""The image record, its two jobs and the rules that derive what users see from them."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime

from annotation_core.errors import ProviderNotConfiguredError


class Job(enum.StrEnum):
    """The two independent jobs every image gets."""

    THUMBNAIL = "thumbnail"
    CAPTION = "caption"


class JobState(enum.StrEnum):
    """`pending -> processing -> completed | failed`; a transient failure puts a job back to pending."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


UNFINISHED_STATES = (JobState.PENDING, JobState.PROCESSING)


class Role(enum.StrEnum):
    """What an account may do: see `web_app.permissions` for the whole table."""

    ADMIN = "admin"  # manage users, everything
    MEMBER = "member"  # upload; retry, delete and edit their own images; see all
    VIEWER = "viewer"  # read only (thumbnails and captions, not originals)


def overall_status(thumbnail: JobState, caption: JobState) -> JobState:
    """Derive what users see: processing while any job runs, failed if any failed, else completed."""
    states = {JobState(thumbnail), JobState(caption)}
    if states & set(UNFINISHED_STATES):
        return JobState.PROCESSING
    if JobState.FAILED in states:
        return JobState.FAILED
    return JobState.COMPLETED


@dataclass(frozen=True)
class JobProgress:
    """One job of one image as the lifecycle left it."""

    job: Job
    state: JobState
    error: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None

    @property
    def waiting_to_retry(self) -> bool:
        """Pending after a transient failure, until `next_attempt_at`; `error` holds the last reason."""
        return self.state is JobState.PENDING and self.next_attempt_at is not None

    @property
    def waiting_for_setup(self) -> bool:
        """Pending until someone configures what it needs (a caption provider)."""
        return self.waiting_to_retry and (self.error or "").startswith(ProviderNotConfiguredError.PREFIX)

    def describe(self, max_attempts: int) -> str:
        """The job's state in words, e.g. 'waiting to retry (attempt 2 of 5)'."""
        if self.waiting_for_setup:
            return "waiting for a caption provider"
        if self.waiting_to_retry:
            # A rate-limited attempt is given back, so the next attempt may carry the same number again.
            return f"waiting to retry (attempt {min(self.attempts + 1, max_attempts)} of {max_attempts})"
        if self.state is JobState.PROCESSING and self.attempts > 1:
            return f"processing (attempt {self.attempts} of {max_attempts})"
        return self.state.value


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
    thumbnail_next_attempt_at: datetime | None
    thumbnail_queued_at: datetime | None
    caption_status: JobState
    caption: str | None
    caption_model: str | None
    caption_error: str | None
    caption_attempts: int
    caption_started_at: datetime | None
    caption_finished_at: datetime | None
    caption_next_attempt_at: datetime | None
    caption_queued_at: datetime | None
    alt_text: str | None
    tags: str | None  # JSON list
    text_in_image: str | None
    caption_provider: str | None
    caption_prompt_version: str | None
    caption_language: str | None
    caption_input_tokens: int | None
    caption_output_tokens: int | None
    caption_latency_ms: int | None
    captioned_at: datetime | None
    edited_caption: str | None
    edited_alt_text: str | None
    edited_tags: str | None  # JSON list
    edited_at: datetime | None
    uploaded_by: int | None = None  # user id; None for images uploaded before accounts existed
    # Renditions (the grid image is the thumbnail) and photo facts, recorded by the thumbnail job.
    preview_key: str | None = None
    thumbnail_width: int | None = None
    thumbnail_height: int | None = None
    preview_width: int | None = None
    preview_height: int | None = None
    placeholder: str | None = None
    taken_at: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens_model: str | None = None
    exposure_seconds: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length_mm: float | None = None
    has_location: bool | None = None
    latitude: float | None = None
    longitude: float | None = None
    deleted_at: datetime | None = None  # in the trash since then

    @property
    def status(self) -> JobState:
        return overall_status(self.thumbnail_status, self.caption_status)

    def job_state(self, job: Job) -> JobState:
        return JobState(getattr(self, f"{job}_status"))

    def progress(self, job: Job) -> JobProgress:
        """The lifecycle columns of one job, together."""
        return JobProgress(
            job=Job(job),
            state=self.job_state(job),
            error=getattr(self, f"{job}_error"),
            attempts=getattr(self, f"{job}_attempts"),
            started_at=getattr(self, f"{job}_started_at"),
            finished_at=getattr(self, f"{job}_finished_at"),
            next_attempt_at=getattr(self, f"{job}_next_attempt_at"),
        )

    def suggestion(self) -> Annotation | None:
        """What the caption model last answered, or None before its first answer."""
        if self.caption is None:
            return None
        return Annotation(self.caption, self.alt_text, decode_tags(self.tags), self.text_in_image)

    def annotation(self) -> Annotation:
        """What the image shows people: each field as a person edited it, else as the model wrote it."""
        suggestion = self.suggestion() or Annotation(None, None, (), None)
        return Annotation(
            caption=self.edited_caption if self.edited_caption is not None else suggestion.caption,
            alt_text=self.edited_alt_text if self.edited_alt_text is not None else suggestion.alt_text,
            tags=decode_tags(self.edited_tags) if self.edited_tags is not None else suggestion.tags,
            text_in_image=suggestion.text_in_image,
        )

    def edited_fields(self) -> list[str]:
        """The fields a person wrote, in a fixed order."""
        return [name for name in EDITABLE_FIELDS if getattr(self, f"edited_{name}") is not None]


EDITABLE_FIELDS = ("caption", "alt_text", "tags")


@dataclass(frozen=True)
class Annotation:
    """Caption, alt text, tags and the text in the image, as one whole."""

    caption: str | None
    alt_text: str | None
    tags: tuple[str, ...]
    text_in_image: str | None


def encode_tags(tags: tuple[str, ...] | list[str]) -> str:
    return json.dumps(list(tags), ensure_ascii=False)


def decode_tags(stored: str | None) -> tuple[str, ...]:
    return tuple(json.loads(stored)) if stored else ()
