"""The local job worker beside gunicorn: `make run`'s master starts one before it forks its web workers.

Gunicorn's `when_ready` hook calls `start_beside_gunicorn`; the web workers then find the machine's worker
lock taken and announce jobs to it (see `annotation_core.local_channel`). On AWS nothing is started: the
Lambdas process the jobs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from annotation_core.local_channel import WorkerLock
from annotation_core.settings import Settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 60.0


def start_beside_gunicorn(settings: Settings) -> subprocess.Popen | None:
    """Start `python -m lambda_functions.local_worker` tied to this process, and wait until it is the worker."""
    if settings.uses_s3:
        return None
    lock = WorkerLock(settings.data_dir)
    if lock.held_elsewhere():
        log.info("a local worker already runs for DATA_DIR=%s", settings.data_dir)
        return None
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "lambda_functions.local_worker", "--parent-pid", str(os.getpid())]
    process = subprocess.Popen(command, env=environment)
    deadline = time.monotonic() + READY_SECONDS
    while not lock.held_elsewhere():
        if process.poll() is not None or time.monotonic() > deadline:
            log.error(
                "the local job worker did not start (exit code %s): uploads are kept, but nothing processes them "
                "until a worker runs (`python -m lambda_functions.local_worker`)",
                process.poll(),
            )
            stop(process)
            return None
        time.sleep(0.05)
    log.info("local job worker running pid=%d", process.pid)
    return process


def stop(process: subprocess.Popen | None, timeout: float = 40.0) -> None:
    """Ask the worker to finish its running jobs and exit; kill it if it takes too long."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
