"""`ingest`: 12 MP JPEG uploads through `make run` (gunicorn, its job worker, SQLite, folders) with an API
token, against a bare 2-process pool making the same renditions from the same bytes; and upload → grid image
ready for one upload at a time."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path

from annotation_core.bootstrap import Services, bootstrap
from annotation_core.job_store import utcnow
from annotation_core.records import JobState
from annotation_core.settings import Settings
from benchmarks.photos import jpeg
from benchmarks.report import Report
from benchmarks.thumbnail import all_renditions
from benchmarks.timing import Stats, measure

ROOT = Path(__file__).resolve().parents[1]
RATE_TARGET = 0.85  # the issue: uploads/s at least 0.85x the bare pool's renditions/s
LATENCY_TARGET_MS = 300  # the issue: upload → grid image p50 for a 12 MP JPEG
ADMIN = ("bench", "bench-password-0123")


def run(quick: bool) -> Report:
    size, batch, singles = ((2000, 1500), 4, 2) if quick else ((4000, 3000), 16, 7)
    files = [jpeg(size, seed=seed) for seed in range(batch + singles + 1)]  # distinct bytes: no duplicates
    pool_s = [_pool_seconds(files[:batch])]
    with tempfile.TemporaryDirectory() as tmp, _make_run(Path(tmp)) as (port, services):
        token = _token(services)
        _upload_and_wait(port, token, services, files[-1:])  # warm: imports, first connections
        latencies = []
        for data in files[batch : batch + singles]:
            started, finished = _upload_and_wait(port, token, services, [data])
            latencies.append((finished[0] - started).total_seconds() * 1000)
        started, finished = _upload_and_wait(port, token, services, files[:batch], clients=2)
        ours_s = (max(finished) - started).total_seconds()
    pool_s.append(_pool_seconds(files[:batch]))
    alone = measure({"renditions": partial(all_renditions, files[batch])}, rounds=singles)["renditions"]
    return _report(size, files, batch, ours_s, pool_s, Stats(tuple(latencies)), alone)


class _make_run:
    """`make run` on a free port with DATA_DIR in `tmp` and no caption provider; stopped (its process group) on exit."""

    def __init__(self, tmp: Path):
        self.tmp = tmp

    def __enter__(self) -> tuple[int, Services]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith(("GEMINI_", "OPENAI_", "DB_"))
        }
        environment |= {
            "DATA_DIR": str(self.tmp),
            "PORT": str(port),
            "BIND_HOST": "127.0.0.1",
            "ADMIN_USERNAME": ADMIN[0],
            "ADMIN_PASSWORD": ADMIN[1],
            "FLASK_SECRET_KEY": uuid.uuid4().hex * 2,
            "LOG_LEVEL": "warning",
        }
        self.log = open(self.tmp / "make-run.log", "wb")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: gunicorn, its web workers and the job worker
        )
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"make run did not start: {(self.tmp / 'make-run.log').read_text()[-2000:]}")
            time.sleep(0.1)
        self.services = bootstrap(Settings(data_dir=str(self.tmp)))
        return port, self.services

    def __exit__(self, *_exc) -> None:
        if getattr(self, "services", None) is not None:
            self.services.close()
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False


def _token(services: Services) -> str:
    return services.tokens.create(services.users.get_by_name(ADMIN[0]).id, "ingest benchmark").secret


def _post(port: int, token: str, data: bytes) -> int:
    """POST one JPEG to /upload with the API token; returns the new image's id."""
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
    body = (head + "Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", "/upload", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status != 202:
        raise RuntimeError(f"upload refused: {response.status} {answer[:300]!r}")
    return json.loads(answer)["images"][0]["id"]


def _upload_and_wait(
    port: int, token: str, services: Services, files: list[bytes], clients: int = 1
) -> tuple[datetime, list[datetime]]:
    """Upload `files` (`clients` at a time), wait until every grid image exists; when it began and each was made."""
    started = utcnow()
    with ThreadPoolExecutor(clients) as senders:
        ids = list(senders.map(lambda data: _post(port, token, data), files))
    deadline = time.monotonic() + 120
    while True:
        records = services.repository.find_many(ids)
        if all(record.thumbnail_status is JobState.COMPLETED for record in records) and len(records) == len(ids):
            return started, [record.thumbnail_finished_at for record in records]
        if any(record.thumbnail_status is JobState.FAILED for record in records) or time.monotonic() > deadline:
            raise RuntimeError(f"thumbnails did not complete: {[r.thumbnail_error for r in records]}")
        time.sleep(0.005)


def _pool_seconds(files: list[bytes]) -> float:
    """Seconds a warm 2-process pool takes to make every file's renditions from its bytes."""
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(all_renditions, files[:2]))  # warm: both processes started and their imports done
        begin = time.perf_counter()
        list(pool.map(all_renditions, files))
        return time.perf_counter() - begin


def _report(size, files, batch: int, ours_s: float, pool_s: list[float], latency: Stats, alone: Stats) -> Report:
    report = Report(
        "ingest",
        "uploads through `make run` (gunicorn, job worker, SQLite, folders; API token) vs a bare 2-process pool",
        {
            "image": f"{size[0]}x{size[1]}",
            "jpeg_kib": len(files[0]) // 1024,
            "uploads": batch,
            "upload_clients": 2,
            "cpus": os.cpu_count(),
            "caption_provider": "none (captions wait for one)",
        },
    )
    pool_mean = sum(pool_s) / len(pool_s)
    ours_rate, pool_rate = batch / ours_s, batch / pool_mean
    report.results = {
        "make run: uploads/s (POST → every grid image made)": {"n": batch, "per_s": ours_rate, "total_s": ours_s},
        "bare 2-process pool: renditions/s (ref)": {"n": batch, "per_s": pool_rate, "total_s": pool_mean},
        "upload → grid image ready, one at a time": latency.as_dict(),
        "all renditions of one upload alone, in-process (ref)": alone.as_dict(),
    }
    report.ratios["upload → grid image / all renditions alone"] = latency.median / alone.median
    report.ratios["make run uploads/s / bare pool renditions/s"] = ours_rate / pool_rate
    share = ours_rate / pool_rate
    report.checks[f"uploads/s >= {RATE_TARGET}x the bare pool"] = (
        f"{'met' if share >= RATE_TARGET else 'MISSED'} ({share:.2f}x: {ours_rate:.2f} vs {pool_rate:.2f}/s)"
    )
    p50 = latency.median
    report.checks[f"upload → grid image p50 <= {LATENCY_TARGET_MS} ms"] = (
        f"{'met' if p50 <= LATENCY_TARGET_MS else 'MISSED'} ({p50:.0f} ms)"
    )
    report.notes.append(
        "the server shares the cores with its two web workers and the client; the pool has them to itself"
    )
    report.notes.append(f"bare pool seconds before and after the server run: {', '.join(f'{s:.2f}' for s in pool_s)}")
    return report
