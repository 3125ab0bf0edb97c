"""`pipeline`: upload → thumbnail job completed (all renditions) through the real local pipeline (Flask, SQLite,
folders, bus)."""

from __future__ import annotations

import io
import logging
import re
import tempfile
import time
from functools import partial

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from annotation_core.bootstrap import bootstrap
from annotation_core.job_store import utcnow
from annotation_core.records import JobState
from annotation_core.settings import Settings
from benchmarks.photos import jpeg
from benchmarks.report import Report
from benchmarks.thumbnail import all_renditions
from benchmarks.timing import Stats, measure
from lambda_functions.local_worker import LocalWorker
from web_app.app import create_app

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
TARGET_MS = 2000  # the issue: "under 2 s for a 12-megapixel JPEG"


def upload_once(client, worker: LocalWorker, data: bytes, name: str) -> dict[str, float]:
    """POST one file, wait until the bus is idle; times to the 202, to thumbnail_finished_at and to idle."""
    boundary, body = encode_multipart(MultiDict([("file", FileStorage(io.BytesIO(data), name))]))
    started_at, started = utcnow(), time.perf_counter()
    response = client.post(
        "/upload",
        data=body,
        headers={"Accept": "application/json"},
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    answered = time.perf_counter()
    if response.status_code != 202:
        raise RuntimeError(f"upload refused: {response.status_code} {response.get_data(as_text=True)[:200]}")
    if not worker.drain(timeout=60):
        raise RuntimeError("jobs did not finish within 60 s")
    idle = time.perf_counter()
    record = worker.services.repository.get(response.get_json()["images"][0]["id"])
    if record.thumbnail_status is not JobState.COMPLETED:
        raise RuntimeError(f"thumbnail {record.thumbnail_status}: {record.thumbnail_error}")
    return {
        "request": (answered - started) * 1000,
        "thumbnail": (record.thumbnail_finished_at - started_at).total_seconds() * 1000,
        "idle": (idle - started) * 1000,
    }


def run(quick: bool) -> Report:
    size, uploads = ((2000, 1500), 3) if quick else ((4000, 3000), 10)
    files = [jpeg(size, seed=seed) for seed in range(uploads + 1)]  # distinct bytes: no duplicate short-cut
    # Without a caption provider every caption job waits for one, as designed; its log lines are expected here.
    logging.getLogger("annotation_core").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        services = bootstrap(Settings(data_dir=tmp, auth_mode="public"), migrate=True)  # no sign-in to measure
        app = create_app(services=services)
        worker = app.extensions["local_worker"]
        client = app.test_client()
        token = _CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)  # as the upload page's script
        client.environ_base["HTTP_X_CSRFTOKEN"] = token
        try:
            cold = upload_once(client, worker, files[0], "cold.jpg")
            samples = [upload_once(client, worker, data, f"photo-{i}.jpg") for i, data in enumerate(files[1:])]
        finally:
            worker.stop()
            services.close()
        box = services.settings.thumbnail_box
    bare = measure({"renditions": partial(all_renditions, files[1])}, rounds=uploads)["renditions"]

    report = Report(
        "pipeline",
        "upload → thumbnail completed, local pipeline (Flask test client, SQLite, folder buckets, event bus)",
        {
            "image": f"{size[0]}x{size[1]}",
            "jpeg_kib": len(files[1]) // 1024,
            "uploads": uploads,
            "thumbnail_box": f"{box[0]}x{box[1]}",
            "worker_threads": services.settings.worker_threads,
        },
    )
    stats = {phase: Stats(tuple(sample[phase] for sample in samples)) for phase in ("request", "thumbnail", "idle")}
    report.results = {
        "POST /upload → 202": stats["request"].as_dict(),
        "upload → thumbnail completed": stats["thumbnail"].as_dict(),
        "upload → all jobs settled": stats["idle"].as_dict(),
        "all renditions alone (ref)": bare.as_dict(),
        "first upload (cold), → thumbnail": {"n": 1, "median_ms": cold["thumbnail"]},
    }
    report.ratios["upload→thumbnail / all renditions alone"] = stats["thumbnail"].median / bare.median
    p95 = stats["thumbnail"].p95
    verdict = "PASS" if p95 < TARGET_MS else "FAIL"
    report.checks[f"upload → thumbnail p95 under {TARGET_MS} ms"] = f"{verdict} ({p95:.0f} ms)"
    report.notes.append("no caption provider: caption jobs wait for one; 'all jobs settled' counts them as waiting")
    return report
