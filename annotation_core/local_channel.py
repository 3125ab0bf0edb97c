"""How processes on one machine reach its one local worker: a lock that says who the worker is, and
datagrams on 127.0.0.1 that tell it which jobs are due.

The worker holds `DATA_DIR/worker.lock` (an flock, released by the kernel when the process dies) and listens
on a UDP port it writes to `DATA_DIR/worker.port`. A web process announces `(image id, job)` pairs there.
A datagram is only a nudge: the rows are the truth, so one that goes astray (no worker running, a full
buffer) costs at most a minute, until the worker's sweep finds the job unclaimed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from annotation_core.records import Job

log = logging.getLogger(__name__)

LOCK_FILE = "worker.lock"
PORT_FILE = "worker.port"
_PAIRS_PER_DATAGRAM = 500  # ~15 KB of JSON, well under the 64 KB a datagram can carry


class WorkerLock:
    """The machine-wide 'I am the worker' lock for one DATA_DIR."""

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / LOCK_FILE
        self._handle = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for as long as we are the worker
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the flock
            self._handle = None

    def held_elsewhere(self) -> bool:
        """True while another process is the worker (probing takes and drops the lock when it is free)."""
        if self._handle is not None:
            return False
        if not self.acquire():
            return True
        self.release()
        return False


class JobListener:
    """The worker's end: a UDP socket on 127.0.0.1 whose port is published in DATA_DIR."""

    def __init__(self, data_dir: str | Path):
        self.port_path = Path(data_dir) / PORT_FILE
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        _write_atomically(self.port_path, str(self.socket.getsockname()[1]))

    def receive(self) -> Iterator[tuple[int, Job]]:
        """Wait for one datagram and yield its pairs; malformed ones are dropped, an empty one is a wake-up."""
        data = self.socket.recv(65536)
        if not data:
            return
        try:
            pairs = json.loads(data)
            for image_id, job in pairs:
                if type(image_id) is int and job in set(Job):
                    yield image_id, Job(job)
        except (ValueError, TypeError):
            log.warning("dropped a malformed job datagram (%d bytes)", len(data))

    def wake(self) -> None:
        """Make a waiting `receive` return (an empty datagram to ourselves)."""
        self.socket.sendto(b"", self.socket.getsockname())

    def close(self) -> None:
        self.socket.close()
        self.port_path.unlink(missing_ok=True)


def send_jobs(data_dir: str | Path, pairs: Iterable[tuple[int, Job]]) -> bool:
    """Tell this machine's worker about due jobs; False if no worker has published its port."""
    try:
        port = int((Path(data_dir) / PORT_FILE).read_text())
    except (OSError, ValueError):
        return False
    pairs = [[image_id, str(job)] for image_id, job in pairs]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for start in range(0, len(pairs), _PAIRS_PER_DATAGRAM):
            try:
                sender.sendto(json.dumps(pairs[start : start + _PAIRS_PER_DATAGRAM]).encode(), ("127.0.0.1", port))
            except OSError as error:  # the sweep will find these jobs; say why they were late
                log.warning("could not reach the local worker on port %d: %s", port, error)
                return False
    return True


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as file:
        file.write(text)
    os.replace(name, path)
