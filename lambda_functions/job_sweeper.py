"""job_sweeper: run every minute by stack 03's schedule, announces due, lost and stuck jobs with PutEvents.

Packaged in the thumbnail image (it needs only the shared core) with its own command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotation_core.bootstrap import lambda_services
from annotation_core.errors import ConfigurationError
from annotation_core.sweeper import sweep


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    services = lambda_services()
    if services.announcer is None:
        raise ConfigurationError("The sweeper publishes job events: set EVENT_BUS_NAME (on AWS, 'default').")
    result = sweep(services.repository, services.announcer, services.settings)
    return {str(job): count for job, count in result.announced.items()}
