"""The shape every job Lambda shares: services for the container, the event's targets, the lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from annotation_core.allocator import tune_malloc
from annotation_core.bootstrap import Services, lambda_services
from annotation_core.lifecycle import Work, handle_event, lambda_deadline
from annotation_core.records import Job


@dataclass(frozen=True)
class JobLambdaHandler:
    """A `lambda_handler(event, context)` that runs `job` for every target of the event.

    An object rather than a closure: its body runs on every invocation, as a method, where mutation testing
    can reach it (a closure is built once, at import)."""

    job: Job
    make_work: Callable[[Services], Work]

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, int]:
        # Before the first job starts a thread (the thumbnailer's preview encoder); again on later ones is harmless.
        tune_malloc(return_freed_memory=False)
        services = lambda_services()
        deadline = lambda_deadline(context, services.settings.job_lease_seconds)
        return handle_event(event, self.job, services.runner(), self.make_work(services), deadline)
