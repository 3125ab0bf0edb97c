"""The embedded processing tier: one worker per machine runs both Lambdas' work on the shared lifecycle.

    python -m lambda_functions.local_worker     # what `make run` starts beside gunicorn

An in-process queue of (image id, job) feeds a thread pool per job kind, as each Lambda scales on its own:
slow captions never hold up thumbnails. Jobs arrive from this process (the upload service, retries, the
sweeper) or as datagrams from the web processes (`annotation_core.local_channel`). The sweeper runs when the
worker starts, whenever a retry falls due, and at least every half minute.

Run as a command, a small supervisor process restarts the worker if it dies (a crash in an image decoder
takes the whole process), and both exit when the process that started them does.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from annotation_core.allocator import tune_malloc
from annotation_core.announcers import InProcessAnnouncer
from annotation_core.bootstrap import Services, bootstrap
from annotation_core.events import JobDue
from annotation_core.job_store import utcnow
from annotation_core.lifecycle import lease_deadline
from annotation_core.local_channel import JobListener, WorkerLock
from annotation_core.logs import configure_logging
from annotation_core.records import Job
from annotation_core.settings import load_settings
from annotation_core.storage import LocalFolderStore
from annotation_core.sweeper import LOST_EVENT_SECONDS, SweepResult, sweep
from annotation_core.trash import purge_expired
from lambda_functions.annotation_lambda.lambda_function import caption_work
from lambda_functions.thumbnail_lambda.lambda_function import thumbnail_work

log = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 30.0
MIN_SWEEP_GAP_SECONDS = 1.0


class LocalWorker:
    """Both jobs' work for one machine. `start()` only after taking the machine's WorkerLock."""

    def __init__(self, services: Services):
        self.announcer = InProcessAnnouncer(self.enqueue)
        self.services = services.with_announcer(self.announcer)
        self.runner = services.runner()
        self.works = {Job.THUMBNAIL: thumbnail_work(services), Job.CAPTION: caption_work(services)}
        threads = {Job.THUMBNAIL: services.settings.worker_threads, Job.CAPTION: services.settings.caption_concurrency}
        self.pools = {job: ThreadPoolExecutor(threads[job], thread_name_prefix=f"{job}-job") for job in Job}
        self._queued: set[tuple[int, Job]] = set()
        self._unfinished = 0
        self._idle = threading.Condition()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: JobListener | None = None
        self._next_sweep_in = SWEEP_INTERVAL_SECONDS
        self.lock = WorkerLock(services.settings.data_dir)

    @classmethod
    def start_if_none_running(cls, services: Services) -> LocalWorker | None:
        """Start a worker in this process unless one already runs for this DATA_DIR on this machine."""
        worker = cls(services)
        if not worker.lock.acquire():
            worker.stop()
            return None
        worker.start()
        return worker

    def start(self) -> None:
        """Sweep now, then listen for announcements from other processes and sweep whenever jobs fall due."""
        self._listener = JobListener(self.services.settings.data_dir)
        for store in (self.services.originals, self.services.thumbnails):
            if isinstance(store, LocalFolderStore) and (removed := store.remove_abandoned_writes()):
                log.warning("removed %d half-written objects of a process that died in %s", removed, store.bucket)
        self._sweep_once(lost_after=0.0)  # announcements made before this worker started reached no one
        for target, name in ((self._listen, "job-listener"), (self._sweep_forever, "job-sweeper")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("local worker started pid=%d", os.getpid())

    def enqueue(self, image_id: int, job: Job) -> None:
        """Queue one job, unless the same job is already waiting in the queue."""
        key = (image_id, Job(job))
        with self._idle:
            if key in self._queued or self._stopped.is_set():
                return
            self._queued.add(key)
            self._unfinished += 1
        self.pools[key[1]].submit(self._run, *key)

    def sweep(self, lost_after: float = LOST_EVENT_SECONDS) -> SweepResult:
        return sweep(self.services.repository, self.announcer, self.services.settings, lost_after=lost_after)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job has run; True if the worker went idle in time."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._unfinished:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self) -> None:
        """Finish the jobs already running, drop the queued ones (their rows stay pending) and let go."""
        self._stopped.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.wake()
        for pool in self.pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        self.lock.release()

    def _run(self, image_id: int, job: Job) -> None:
        with self._idle:  # from now on a new announcement queues the job again
            self._queued.discard((image_id, job))
        try:
            deadline = lease_deadline(self.services.settings.job_lease_seconds)
            if self.runner.run(JobDue(image_id, job), job, self.works[job], deadline) == "retry":
                self._wake.set()  # the sweeper learns the new due time
        except Exception:  # e.g. the database is down: the row keeps its state and the sweep comes back to it
            log.exception("job could not be run or recorded image=%s job=%s", image_id, job)
            self._wake.set()  # the sweeper learns when its lease runs out
        finally:
            with self._idle:
                self._unfinished -= 1
                self._idle.notify_all()

    def _listen(self) -> None:
        while not self._stopped.is_set():
            for image_id, job in self._listener.receive():
                self.enqueue(image_id, job)

    def _sweep_forever(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._next_sweep_in)
            self._wake.clear()
            if not self._stopped.is_set():
                self._sweep_once(LOST_EVENT_SECONDS)

    def _sweep_once(self, lost_after: float) -> None:
        try:
            result = self.sweep(lost_after)
            purge_expired(self.services)
            self._next_sweep_in = _seconds_until(result.next_attempt_at)
        except Exception:  # the database may be briefly unavailable; try again soon
            log.exception("sweep failed")
            self._next_sweep_in = MIN_SWEEP_GAP_SECONDS * 5


def _seconds_until(moment: datetime | None) -> float:
    """How long the sweeper may sleep: until the next retry is due, within [1 s, 30 s]."""
    if moment is None:
        return SWEEP_INTERVAL_SECONDS
    wait = (moment - utcnow()).total_seconds()
    return min(SWEEP_INTERVAL_SECONDS, max(MIN_SWEEP_GAP_SECONDS, wait))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lambda_functions.local_worker", description=__doc__.split("\n")[0])
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone (set by gunicorn's hook)")
    parser.add_argument("--no-supervisor", action="store_true", help="run the worker in this process only")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level)
    if args.no_supervisor:
        return run_worker(args.parent_pid)
    return supervise(args.parent_pid)


def run_worker(parent_pid: int | None) -> int:
    """Be this machine's worker until SIGTERM/SIGINT or the parent's death; 0 if another worker runs."""
    tune_malloc(return_freed_memory=False)
    services = bootstrap(load_settings(), migrate=True)
    worker = LocalWorker.start_if_none_running(services)
    if worker is None:
        log.info("a local worker already runs for DATA_DIR=%s; not starting another", services.settings.data_dir)
        return 0
    stop = _stop_event_on_signals()
    while not stop.wait(1.0):
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("the process that started the worker is gone; stopping")
            break
    worker.stop()
    services.close()
    return 0


def supervise(parent_pid: int | None) -> int:
    """Run the worker in a child process and start it again, with a growing pause, whenever it dies."""
    stop = _stop_event_on_signals()
    command = [
        sys.executable,
        "-m",
        "lambda_functions.local_worker",
        "--no-supervisor",
        "--parent-pid",
        str(os.getpid()),
    ]
    pause = 1.0
    while not stop.is_set():
        started = time.monotonic()
        child = subprocess.Popen(command)
        while child.poll() is None:
            if stop.wait(0.5) or (parent_pid is not None and os.getppid() != parent_pid):
                stop.set()
                child.terminate()
                child.wait()
                return 0
        if child.returncode == 0:
            return 0
        pause = 1.0 if time.monotonic() - started > 60 else min(pause * 2, 60.0)
        log.error("the local worker exited with %s; starting it again in %.0f s", child.returncode, pause)
        stop.wait(pause)
    return 0


def _stop_event_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


if __name__ == "__main__":
    sys.exit(main())
