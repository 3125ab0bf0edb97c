"""The sweeper: the same code on a laptop and on AWS announces every job that is due but may have no
event on its way, so nothing waits for a user to notice.

On AWS a schedule runs it every minute (`lambda_functions/job_sweeper.py`); locally the worker runs it when
it starts and whenever a retry falls due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from annotation_core.announcers import Announcer
from annotation_core.records import Job
from annotation_core.repository import ImageRepository
from annotation_core.settings import Settings

log = logging.getLogger(__name__)

LOST_EVENT_SECONDS = 60.0  # a pending job nobody claimed for this long has lost its event
SWEEP_BATCH = 1000  # jobs of each kind announced per sweep; the next sweep takes the rest


@dataclass(frozen=True)
class SweepResult:
    announced: dict[Job, int]
    next_attempt_at: datetime | None  # when the soonest retry falls due or the oldest lease runs out

    @property
    def total(self) -> int:
        return sum(self.announced.values())


def sweep(
    repository: ImageRepository,
    announcer: Announcer,
    settings: Settings,
    *,
    lost_after: float = LOST_EVENT_SECONDS,
    batch: int = SWEEP_BATCH,
) -> SweepResult:
    """Announce due retries, jobs whose event was lost and jobs whose lease expired, in bounded batches."""
    announced = {}
    for job in Job:
        image_ids = repository.due_jobs(
            job, lease_seconds=settings.job_lease_seconds, lost_after=lost_after, limit=batch
        )
        if image_ids:
            announcer.due((image_id, job) for image_id in image_ids)
        announced[job] = len(image_ids)
    moments = (repository.next_attempt_at(), repository.next_lease_expiry(settings.job_lease_seconds))
    result = SweepResult(announced, min((moment for moment in moments if moment is not None), default=None))
    if result.total:
        log.info("sweep announced %s", ", ".join(f"{count} {job}" for job, count in announced.items() if count))
    return result
