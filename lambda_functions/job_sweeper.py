"""job_sweeper: run every minute by stack 03's schedule, announces due, lost and stuck jobs with PutEvents,
and purges images whose time in the trash is over (it deletes their objects in both buckets).

Packaged in the thumbnail image (it needs only the shared core) with its own command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotation_core.bootstrap import lambda_services
from annotation_core.errors import ConfigurationError
from annotation_core.sweeper import sweep
from annotation_core.trash import purge_expired


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    services = lambda_services()
    if services.announcer is None:
        raise ConfigurationError("The sweeper publishes job events: set EVENT_BUS_NAME (on AWS, 'default').")
    result = sweep(services.repository, services.announcer, services.settings)
    purged = purge_expired(services)  # what has been in the trash for TRASH_RETENTION_DAYS: objects, then rows
    return {**{str(job): count for job, count in result.announced.items()}, "purged": purged}
