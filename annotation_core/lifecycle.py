"""The one owner of a job's life: claim it, do its work, and end it one of three ways.

- **completed**: the work's columns are recorded;
- **failed**: for good, with a reason the user can act on (not an image, a refused key, attempts used up);
- **retry later**: a transient failure (rate limit, overload, timeout, storage or provider briefly away)
  puts the job back to pending with a next attempt time; the sweeper announces it again when due.

Handlers only turn their event into targets and call `handle_event`; the local worker calls `run` directly.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from annotation_core.errors import AnnotationError, ProviderNotConfiguredError, RetryLaterError, StorageError
from annotation_core.events import EventParseError, JobDue, JobTarget, ObjectCreated, parse_job_targets
from annotation_core.job_store import Claim, utcnow
from annotation_core.records import ImageRecord, Job
from annotation_core.repository import ImageRepository
from annotation_core.retry_policy import retry_delay, throttle_delay
from annotation_core.settings import Settings
from annotation_core.storage import ObjectStore

log = logging.getLogger(__name__)

# Seconds kept in hand at the end of an invocation or lease to record the outcome.
RECORDING_MARGIN_SECONDS = 5.0
# How often a caption waiting for a provider looks again (a local worker that starts with one looks at once).
PROVIDER_RECHECK_SECONDS = 3600.0


@dataclass(frozen=True)
class JobInput:
    """What a job's work gets: the image's row, its original's bytes, and when it must be done."""

    record: ImageRecord
    original: bytes
    deadline: float  # a time.monotonic() value

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


@dataclass(frozen=True)
class JobOutput:
    """What a job's work produced: the columns to record, and how to remove any object it wrote."""

    columns: Mapping[str, Any]
    undo: Callable[[], None] | None = None


Work = Callable[[JobInput], JobOutput]


def lease_deadline(lease_seconds: int) -> float:
    """A deadline that ends the work before its lease does (locally nothing else stops it)."""
    return time.monotonic() + lease_seconds - RECORDING_MARGIN_SECONDS


def lambda_deadline(context: Any, lease_seconds: int) -> float:
    """The sooner of the lease's end and the Lambda invocation's own timeout, less the recording margin."""
    remaining = context.get_remaining_time_in_millis() / 1000 - RECORDING_MARGIN_SECONDS
    return min(lease_deadline(lease_seconds), time.monotonic() + remaining)


class JobRunner:
    """Runs one job of one image through its lifecycle; shared by both Lambdas and the local worker."""

    def __init__(
        self,
        repository: ImageRepository,
        originals: ObjectStore,
        settings: Settings,
        random_fraction: Callable[[], float] = random.random,
    ):
        self.repository = repository
        self.originals = originals
        self.settings = settings
        self.random_fraction = random_fraction

    def run(self, target: JobTarget, job: Job, work: Work, deadline: float) -> str:
        """Claim and run `job` for the image `target` names; returns the outcome's name."""
        record = self._resolve(target, job)
        if record is None:
            return "ignored"
        context = {"image_id": record.id, "job": str(job)}
        claim = self.repository.claim(record.id, job, self.settings.job_lease_seconds)
        if claim is None:
            log.info(
                "nothing to claim image=%s job=%s (duplicate event, or not due yet)", record.id, job, extra=context
            )
            return "skipped"
        maximum = self.settings.job_max_attempts
        if claim.attempt > maximum:  # the previous attempt died without recording anything
            return self._fail(
                claim,
                f"Gave up after {maximum} attempts: the last one stopped without a result (it ran out of time "
                f"or memory). Retry it; if it stops again, the image may be too large to process.",
            )
        try:
            output = work(JobInput(record, self.originals.load(record.original_key), deadline))
        except ProviderNotConfiguredError as error:
            return self._wait_for_setup(claim, error.message)
        except RetryLaterError as error:
            return self._retry_later(claim, record, error.message, error.retry_after, error.throttled)
        except StorageError as error:  # a missing original may still be on its way; a bucket may be back soon
            return self._retry_later(claim, record, error.message, None, False)
        except AnnotationError as error:
            return self._fail(claim, error.message)
        except Exception as error:  # a bug must not leave the job stuck in 'processing'
            log.exception("job crashed image=%s job=%s", record.id, job, extra=context)
            return self._fail(
                claim,
                f"Unexpected {type(error).__name__} while making the {job}: retry it, and report it if it fails again.",
            )
        if not self.repository.finish(claim, output.columns):
            # Taken over: the new owner writes the same objects. Deleted meanwhile: ours would be orphans.
            if output.undo is not None and self.repository.find(record.id, include_trashed=True) is None:
                output.undo()
            log.warning("claim lost image=%s job=%s (deleted or taken over)", record.id, job, extra=context)
            return "lost"
        log.info("job completed image=%s job=%s attempt=%d", record.id, job, claim.attempt, extra=context)
        return "completed"

    def _resolve(self, target: JobTarget, job: Job) -> ImageRecord | None:
        """The row a target names, or None (logged) when it is not ours or no longer exists."""
        if isinstance(target, JobDue):
            if target.job is not job:
                log.warning("ignored a %s event in the %s handler image=%s", target.job, job, target.image_id)
                return None
            if target.bucket is not None and target.bucket != self.originals.bucket:
                log.warning("ignored a job of another deployment bucket=%s image=%s", target.bucket, target.image_id)
                return None
            record = self.repository.find(target.image_id)
            missing = f"image={target.image_id}"
        elif isinstance(target, ObjectCreated):
            if target.bucket != self.originals.bucket:
                log.warning("ignored event for bucket=%s key=%s job=%s", target.bucket, target.key, job)
                return None
            record = self.repository.find_by_original_key(target.key)
            missing = f"key={target.key}"
        else:
            raise TypeError(f"not a job target: {target!r}")
        if record is None:  # deleted meanwhile, or an object nobody uploaded through the app
            log.warning("no image row for %s job=%s", missing, job, extra={"job": str(job)})
        return record

    def _retry_later(
        self, claim: Claim, record: ImageRecord, reason: str, retry_after: float | None, throttled: bool
    ) -> str:
        settings, now = self.settings, utcnow()
        base, cap = settings.job_retry_base_seconds, settings.job_retry_max_seconds
        if throttled:
            queued = getattr(record, f"{claim.job}_queued_at") or record.uploaded_at
            waited = (now - queued).total_seconds()
            if waited > settings.job_retry_window_hours * 3600:
                return self._fail(
                    claim,
                    f"{reason} Still rate-limited {settings.job_retry_window_hours:g} hours after it was queued: "
                    "raise the quota, then retry.",
                )
            delay = throttle_delay(
                waited, base=base, cap=cap, retry_after=retry_after, random_fraction=self.random_fraction
            )
        else:
            if claim.attempt >= settings.job_max_attempts:
                return self._fail(claim, f"Gave up after {claim.attempt} attempts: {reason}")
            delay = retry_delay(
                claim.attempt, base=base, cap=cap, retry_after=retry_after, random_fraction=self.random_fraction
            )
        if not self.repository.retry_later(claim, reason, now + timedelta(seconds=delay), refund=throttled):
            return "lost"
        log.warning(
            "job will retry image=%s job=%s in %.1f s (attempt %d of %d%s): %s",
            claim.image_id,
            claim.job,
            delay,
            claim.attempt,
            settings.job_max_attempts,
            ", not counted: rate-limited" if throttled else "",
            reason,
            extra={"image_id": claim.image_id, "job": str(claim.job)},
        )
        return "retry"

    def _wait_for_setup(self, claim: Claim, reason: str) -> str:
        """Nothing can be done until someone configures a provider: wait, uncounted and without giving up."""
        later = utcnow() + timedelta(seconds=PROVIDER_RECHECK_SECONDS)
        if not self.repository.retry_later(claim, reason, later, refund=True):
            return "lost"
        log.info(
            "job waits for a provider image=%s job=%s", claim.image_id, claim.job, extra={"image_id": claim.image_id}
        )
        return "waiting"

    def _fail(self, claim: Claim, reason: str) -> str:
        if not self.repository.fail(claim, reason):
            return "lost"
        log.warning(
            "job failed image=%s job=%s: %s",
            claim.image_id,
            claim.job,
            reason,
            extra={"image_id": claim.image_id, "job": str(claim.job)},
        )
        return "failed"


def handle_event(event: Mapping[str, Any], job: Job, runner: JobRunner, work: Work, deadline: float) -> dict[str, int]:
    """Run `job` for every target the event names; returns how many ended in each outcome.

    An event we cannot read is logged and dropped: delivered again it would fail the same way, so raising
    would only spend AWS's retries on it.
    """
    try:
        targets = parse_job_targets(event)
    except EventParseError as error:
        log.warning("dropped an event job=%s: %s", job, error.message)
        return {"dropped": 1}
    return dict(Counter(runner.run(target, job, work, deadline) for target in targets))
