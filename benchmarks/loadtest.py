"""`make loadtest`: many uploads at once through the app as `make run` serves it, then proof nothing was lost.

    python -m benchmarks.loadtest [--uploads 500] [--clients 32] [--database sqlite|mysql|both]

For each database (SQLite; MariaDB/MySQL too when TEST_MYSQL_URL is set, in a database of its own named
`<that database>_loadtest`, dropped and made afresh), it starts gunicorn with `web_app/gunicorn.conf.py` over a
temporary DATA_DIR, with its local job worker and a strict fake Gemini on 127.0.0.1, signs in as the admin to
make an API token, and sends the uploads from concurrent clients with `Authorization: Bearer`: JPEG, PNG, WebP
and HEIC photos up to 12 MP, every one different bytes. It waits for every job to settle, then audits the
database and the bucket folders (`benchmarks.load_audit`) and reports uploads/s, latency percentiles,
accepted / refused / lost / 5xx / connection errors, jobs redone, and the web workers' memory at start,
after the first wave (warm) and at the end. Everything stays on 127.0.0.1 and is bounded in count and time.
Exit status 1 when anything was lost, any request got a 5xx or failed, or the audit found a problem.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from annotation_core.bootstrap import bootstrap
from annotation_core.settings import Settings
from benchmarks.app_server import AppServer, rss_kib
from benchmarks.load_audit import Audit, audit, wait_until_settled
from benchmarks.load_photos import Original, make_originals, plan, stamp
from benchmarks.report import RESULTS_DIR, Report, print_report, write_report
from tests.fake_gemini import FakeGemini

REQUEST_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = 600.0  # the jobs' time to finish after the last upload
MAX_UPLOADS = 5000  # the bound on one run, whatever the command line says


@dataclass
class Outcomes:
    """What the clients saw, shared between their threads."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: dict[int, str] = field(default_factory=dict)  # image id -> sha256 of the bytes sent
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, latency: float, image_id: int | None, sha256: str) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if image_id is not None:
                self.accepted[image_id] = sha256

    def count(self, low: int, high: int) -> int:
        return sum(n for status, n in self.statuses.items() if low <= status < high)


def mysql_database(base_url: str, suffix: str = "_loadtest") -> sa.URL:
    """A database of the load test's own beside TEST_MYSQL_URL's, dropped and made afresh."""
    url = sa.make_url(base_url).set(database=f"{sa.make_url(base_url).database}{suffix}")
    server = sa.create_engine(url.set(database="mysql"))
    with server.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{url.database}`")
        conn.exec_driver_sql(f"CREATE DATABASE `{url.database}`")
    server.dispose()
    return url


def database_environment(url: sa.URL | None) -> dict[str, str]:
    if url is None:
        return {"DB_HOST": ""}
    return {
        "DB_HOST": url.host or "127.0.0.1",
        "DB_PORT": str(url.port or 3306),
        "DB_USER": url.username or "root",
        "DB_PASSWORD": url.password or "",
        "DB_NAME": url.database,
    }


def app_environment(gemini: FakeGemini, admin_password: str, database: sa.URL | None) -> dict[str, str]:
    """What `make run` would read from `.env`: here a fake Gemini, a known admin password, no upload quota."""
    return {
        "GEMINI_API_KEY": "loadtest-key",
        "GEMINI_BASE_URL": gemini.base_url,
        "CAPTION_PROVIDER": "gemini",
        "ADMIN_USERNAME": "admin",
        "ADMIN_PASSWORD": admin_password,
        "AUTH_MODE": "password",
        "UPLOADS_PER_HOUR": "100000",
        "LOG_LEVEL": "WARNING",
        **database_environment(database),
    }


def create_token(base_url: str, password: str) -> str:
    """An API token for the admin, made with HTTP Basic as a script would (README: API tokens)."""
    credentials = base64.b64encode(f"admin:{password}".encode()).decode()
    connection = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=30)
    headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
    connection.request("POST", "/api/tokens", json.dumps({"name": "load test"}), headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 201:
        raise RuntimeError(f"could not create an API token: {response.status} {body[:200]!r}")
    return json.loads(body)["token"]


class Client:
    """One uploading client: its own keep-alive connection, reopened after an error."""

    def __init__(self, base_url: str, token: str):
        self.host = base_url.removeprefix("http://")
        self.token = token
        self.connection: http.client.HTTPConnection | None = None

    def upload(self, number: int, original: Original, outcomes: Outcomes) -> None:
        data = stamp(original, number)
        sha256 = hashlib.sha256(data).hexdigest()
        name = f"load-{number:05d}.{original.extension}"
        boundary, body = encode_multipart(MultiDict([("file", FileStorage(io.BytesIO(data), name))]))
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }
        started = time.perf_counter()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, timeout=REQUEST_TIMEOUT_SECONDS)
            self.connection.request("POST", "/upload", body, headers)
            response = self.connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            with outcomes.lock:
                outcomes.errors.append(f"upload {number}: {type(error).__name__}: {error}")
            return
        latency = time.perf_counter() - started
        image_id = None
        if response.status == 202:
            image_id = json.loads(answer)["images"][0]["id"]
        elif response.status >= 500:
            with outcomes.lock:
                outcomes.errors.append(f"upload {number}: {response.status} {answer[:200]!r}")
        outcomes.record(response.status, latency, image_id, sha256)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def send(server: AppServer, token: str, uploads: list[Original], clients: int, outcomes: Outcomes) -> dict[str, int]:
    """Send every upload from `clients` threads; returns the web workers' RSS (KiB) after the first wave."""
    local = threading.local()
    made: list[Client] = []
    warm: dict[str, int] = {}
    first_wave = threading.Event()

    def one(number: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(server.url, token)
            with outcomes.lock:
                made.append(local.client)
        local.client.upload(number, uploads[number], outcomes)
        if number == clients and not first_wave.is_set():
            first_wave.set()
            warm.update(memory(server))

    with ThreadPoolExecutor(clients, thread_name_prefix="client") as pool:
        list(pool.map(one, range(len(uploads))))
    for client in made:
        client.close()
    return warm or memory(server)


def memory(server: AppServer, field: str = "VmRSS") -> dict[str, int]:
    """Resident memory (KiB) of each web worker, and of the job worker (VmHWM: the highest so far)."""
    found = {f"web {n + 1}": rss_kib(pid, field) for n, pid in enumerate(sorted(server.web_worker_pids()))}
    job_worker = server.job_worker_pid()
    if job_worker is not None:
        found["job worker"] = rss_kib(job_worker, field)
    return found


def run_one(database: str, uploads: list[Original], clients: int, mysql_url: str | None) -> tuple[Report, bool]:
    """The whole load test on one database; returns its report and whether it passed."""
    url = mysql_database(mysql_url) if database == "mysql" else None
    password = secrets.token_urlsafe(16)
    outcomes = Outcomes()
    with FakeGemini(caption="A photo sent by the load test.") as gemini, tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        server = AppServer(data_dir, app_environment(gemini, password, url)).start()
        try:
            token = create_token(server.url, password)
            start_memory = memory(server)
            started = time.perf_counter()
            warm_memory = send(server, token, uploads, clients, outcomes)
            elapsed = time.perf_counter() - started
            end_memory, peak_memory = memory(server), memory(server, "VmHWM")
            settings = Settings(data_dir=str(data_dir), **database_settings(url))
            services = bootstrap(settings)
            settled = wait_until_settled(services, list(outcomes.accepted), SETTLE_SECONDS)
            found = audit(services, outcomes.accepted)
            services.close()
            provider_calls = len(gemini.requests)
        finally:
            server.stop()
    report = _report(database, len(uploads), clients, elapsed, outcomes, found, provider_calls)
    _add_memory(report, start_memory, warm_memory, end_memory, peak_memory)
    passed = settled and not found.problems and not outcomes.errors and not outcomes.count(500, 600)
    report.checks["every accepted upload kept and processed, no 5xx, no failed request"] = "PASS" if passed else "FAIL"
    report.notes.extend((found.problems + outcomes.errors)[:20])
    return report, passed


def database_settings(url: sa.URL | None) -> dict:
    """The Settings fields that reach the database `url` names (none for SQLite in DATA_DIR)."""
    if url is None:
        return {}
    return {
        "db_host": url.host,
        "db_port": url.port or 3306,
        "db_user": url.username,
        "db_password": url.password or "",
        "db_name": url.database,
    }


def _report(
    database: str, sent: int, clients: int, elapsed: float, outcomes: Outcomes, found: Audit, provider_calls: int
) -> Report:
    latencies = sorted(outcomes.latencies) or [0.0]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    report = Report(
        f"loadtest-{database}",
        f"load test on {database}: {sent} uploads from {clients} clients (JPEG, PNG, WebP, HEIC up to 12 MP)",
        {"database": database, "uploads": sent, "clients": clients},
    )
    report.results = {
        "uploads": {
            "sent": sent,
            "accepted": len(outcomes.accepted),
            "refused_4xx": outcomes.count(400, 500),
            "lost": found.lost,
            "5xx": outcomes.count(500, 600),
            "failed_requests": len(outcomes.errors) - outcomes.count(500, 600),
            "jobs_redone": found.redone,
            "captions_failed": found.captions_failed,
        },
        "throughput": {"seconds": elapsed, "uploads_per_s": len(latencies) / elapsed if elapsed else 0.0},
        "latency_s": {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": latencies[-1]},
        "provider": {"calls": provider_calls},
    }
    return report


def _add_memory(report: Report, *moments: dict[str, int]) -> None:
    """RSS at start, after the first wave (warm), at the end, and the highest it reached, in MiB."""
    for name in moments[2]:
        report.results[f"RSS MiB {name}"] = {
            moment: round(values.get(name, 0) / 1024, 1)
            for moment, values in zip(("start", "warm", "end", "peak"), moments, strict=True)
        }


def summary(report: Report) -> str:
    """The figures of docs/reliability.md's table, on a few lines."""
    counts, latency = report.results["uploads"], report.results["latency_s"]
    lines = [
        f"{report.params['database']}: " + ", ".join(f"{name} {value}" for name, value in counts.items()),
        f"  {report.results['throughput']['uploads_per_s']:.2f} uploads/s; latency p50 {latency['p50']:.1f} s, "
        f"p95 {latency['p95']:.1f} s, p99 {latency['p99']:.1f} s",
    ]
    for name, rss in report.results.items():
        if name.startswith("RSS"):
            lines.append(f"  {name}: " + ", ".join(f"{moment} {value:.0f}" for moment, value in rss.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadtest", description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=500, help="uploads to send (default 500)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--database", choices=("sqlite", "mysql", "both"), help="default: both if TEST_MYSQL_URL")
    parser.add_argument("--quick", action="store_true", help="photos up to 2 MP only (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"folder for the JSON (default {RESULTS_DIR})")
    args = parser.parse_args(argv)
    mysql_url = os.environ.get("TEST_MYSQL_URL")
    choice = args.database or ("both" if mysql_url else "sqlite")
    if choice != "sqlite" and not mysql_url:
        parser.error("MySQL needs TEST_MYSQL_URL (e.g. mysql+mysqlconnector://root@127.0.0.1:3306/test)")
    logging.basicConfig(level=logging.WARNING)
    uploads = plan(make_originals(args.quick), min(args.uploads, MAX_UPLOADS))
    passed = True
    for database in ("sqlite", "mysql") if choice == "both" else (choice,):
        report, ok = run_one(database, uploads, args.clients, mysql_url)
        print_report(report)
        print(summary(report))
        print(f"(written to {write_report(report, args.out, args.quick)})")
        passed &= ok
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
