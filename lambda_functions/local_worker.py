"""The embedded processing tier: both Lambda handlers on the local event bus, plus crash recovery."""

from __future__ import annotations

import functools
import logging
import threading

from annotation_core.bootstrap import Services
from annotation_core.events import ObjectCreated
from annotation_core.publishers import LocalEventBus
from lambda_functions.annotation_lambda import lambda_function as annotation
from lambda_functions.thumbnail_lambda import lambda_function as thumbnail

log = logging.getLogger(__name__)


class LocalWorker:
    """Subscribes both handlers to the bus and re-publishes jobs a crash left unfinished."""

    def __init__(self, services: Services, bus: LocalEventBus):
        self.services = services
        self.bus = bus
        self._stopped = threading.Event()
        bus.subscribe(functools.partial(thumbnail.handle, services=services))
        bus.subscribe(functools.partial(annotation.handle, services=services))

    def start(self) -> None:
        """Sweep now, then every half lease while the bus is idle."""
        threading.Thread(target=self._sweep_forever, name="job-sweeper", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def sweep(self) -> int:
        """Publish an event for every image with an unfinished job; the claim skips any still leased."""
        unfinished = self.services.repository.unfinished()
        for record in unfinished:
            self.bus.publish(ObjectCreated(self.services.originals.bucket, record.original_key))
        if unfinished:
            log.info("re-published %d unfinished images", len(unfinished))
        return len(unfinished)

    def _sweep_forever(self) -> None:
        interval = max(1.0, self.services.settings.job_lease_seconds / 2)
        while not self._stopped.is_set():
            if self.bus.drain(timeout=0):
                try:
                    self.sweep()
                except Exception:  # the database may be briefly unavailable; try again next round
                    log.exception("sweep failed")
            self._stopped.wait(interval)


def start_local_worker(services: Services) -> LocalWorker:
    """Start processing uploads in this process (embedded mode only)."""
    worker = LocalWorker(services, services.local_bus)
    worker.start()
    return worker
