"""Where 'this object needs processing' is announced: the local bus, or EventBridge on AWS."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from annotation_core.errors import PublishError
from annotation_core.events import ObjectCreated, eventbridge_event, put_events_entry

log = logging.getLogger(__name__)

EventHandler = Callable[[Mapping[str, Any]], Any]


class EventPublisher(Protocol):
    def publish(self, created: ObjectCreated) -> None: ...


class LocalEventBus:
    """An in-process stand-in for S3 → EventBridge → Lambda: every subscriber gets each event.

    Each subscriber has its own pool of `workers` threads, as each Lambda scales on its own: slow captions
    never hold up thumbnails.
    """

    def __init__(self, workers: int = 2):
        self.workers = workers
        self._subscribers: list[tuple[EventHandler, ThreadPoolExecutor]] = []
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def subscribe(self, handler: EventHandler) -> None:
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"event-bus-{len(self._subscribers)}")
        self._subscribers.append((handler, pool))

    def publish(self, created: ObjectCreated) -> None:
        event = eventbridge_event(created)
        for handler, pool in self._subscribers:
            future = pool.submit(handler, event)
            with self._lock:
                self._pending.add(future)
            future.add_done_callback(self._settled)

    def _settled(self, future: Future) -> None:
        if future.exception() is not None:  # a handler that raises is a bug: AWS would retry, we log
            log.error("event handler failed", exc_info=future.exception())
        with self._lock:  # only now is the event handled, logging included (drain waits for this)
            self._pending.discard(future)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every published event has been handled; True if the bus went idle in time."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = set(self._pending)
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                return not pending
            wait(pending, timeout=remaining)

    def shutdown(self) -> None:
        for _handler, pool in self._subscribers:
            pool.shutdown(wait=True, cancel_futures=False)


class EventBridgePublisher:
    """Publishes retries with `PutEvents`, in the shape the S3 rule already matches."""

    def __init__(self, bus_name: str, client: Any = None):
        self.bus_name = bus_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("events")
        return self._client

    def publish(self, created: ObjectCreated) -> None:
        try:
            response = self.client.put_events(Entries=[put_events_entry(created, self.bus_name)])
        except (BotoCoreError, ClientError) as error:  # no such bus, access denied, endpoint unreachable
            raise PublishError(
                f"Could not publish the retry event to EventBridge bus {self.bus_name!r} ({error}); try again later."
            ) from error
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise PublishError(f"EventBridge refused the retry event: {entry.get('ErrorMessage', 'unknown error')}.")
