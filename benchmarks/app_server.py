"""The app as `make run` starts it, in a subprocess: gunicorn with `web_app/gunicorn.conf.py`, its web workers
and the one local job worker beside them, over its own DATA_DIR, on 127.0.0.1 only.

Started in a session of its own, so the whole tree can be killed at once (`kill()`, a crash) or stopped as
`make run` is (`stop()`, SIGTERM to the master).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppServer:
    """One gunicorn master with its tree; `environment` adds to (and wins over) this process's."""

    def __init__(self, data_dir: Path, environment: dict[str, str], port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.environment = {
            **os.environ,
            "BIND_HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATA_DIR": str(self.data_dir),
            "PYTHONPATH": str(ROOT),
            **environment,
        }
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        """Start gunicorn and wait until /health answers and the job worker runs."""
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", str(ROOT / "web_app" / "gunicorn.conf.py"), "web_app.app:create_app()"],
            cwd=self.data_dir.parent,  # no developer's .env leaks in
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_SECONDS
        while not (self._healthy() and self.job_worker_pid() is not None):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("gunicorn did not start:\n" + "".join(self.output[-50:]))
            time.sleep(0.2)
        return self

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM to the master, as Ctrl-C on `make run`; returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL the master, its web workers and the job worker at once: a crash, or the power cut."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=5)
        self.process.stdout.close()

    def web_worker_pids(self) -> list[int]:
        return [pid for pid, command in self._children().items() if "gunicorn" in command]

    def job_worker_pid(self) -> int | None:
        """The process doing the jobs (the supervisor's child, `--no-supervisor`)."""
        found = [pid for pid, command in self._descendants().items() if "--no-supervisor" in command]
        return found[0] if found else None

    def _children(self) -> dict[int, str]:
        return {pid: command for pid, (parent, command) in processes().items() if parent == self.process.pid}

    def _descendants(self) -> dict[int, str]:
        return descendants(self.process.pid)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return json.load(response) == {"status": "ok"}
        except OSError:
            return False

    def _collect(self) -> None:
        for raw in iter(self.process.stdout.readline, b""):
            self.output.append(raw.decode(errors="replace"))


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process now (VmHWM: at its highest so far), from /proc (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process on this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):  # it ended while we looked
                continue
            found[int(entry.name)] = (parent, command)
    return found


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below `root` (children, theirs, and so on)."""
    table, found, frontier = processes(), {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, command) in table.items():
            if ppid == parent:
                found[pid] = command
                frontier.append(pid)
    return found
