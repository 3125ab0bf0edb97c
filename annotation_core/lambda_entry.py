"""The shape every job Lambda shares: services for the container, the event's targets, the lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from annotation_core.allocator import tune_malloc
from annotation_core.bootstrap import Services, lambda_services
from annotation_core.lifecycle import Work, handle_event, lambda_deadline
from annotation_core.records import Job

LambdaHandler = Callable[[Mapping[str, Any], Any], dict[str, int]]


def job_lambda_handler(job: Job, make_work: Callable[[Services], Work]) -> LambdaHandler:
    """A `lambda_handler(event, context)` that runs `job` for every target of the event. Made when the
    function's module is imported, before the runtime's first invocation, so malloc is tuned here too."""
    tune_malloc(return_freed_memory=False)

    def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
        services = lambda_services()
        deadline = lambda_deadline(context, services.settings.job_lease_seconds)
        return handle_event(event, job, services.runner(), make_work(services), deadline)

    return lambda_handler
