"""Captions under a rate limit: N uploads against a Gemini that refuses 70 % of calls with 429 and the wait it
wants (RetryInfo), through the real local pipeline. Every caption must complete; none may fail or stick."""

from __future__ import annotations

import logging
import tempfile
import time

from annotation_core.bootstrap import bootstrap
from annotation_core.records import JobState
from annotation_core.settings import Settings
from annotation_core.uploads import check_upload, store_upload
from benchmarks.photos import jpeg
from benchmarks.report import Report
from tests.fake_gemini import FakeGemini
from web_app.app import create_app

REFUSED = 0.7
RETRY_DELAY_SECONDS = 1.0
TIME_LIMIT_SECONDS = 600


def run(quick: bool) -> Report:
    uploads = 20 if quick else 200
    photos = [jpeg((320, 240), seed=seed) for seed in range(uploads)]  # distinct bytes: no duplicate short-cut
    logging.getLogger("annotation_core").setLevel(logging.ERROR)  # hundreds of expected "will retry" lines
    gemini = FakeGemini(refuse_fraction=REFUSED, retry_delay=f"{RETRY_DELAY_SECONDS:g}s", seed=7)
    with gemini, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp, gemini_api_key="key", gemini_base_url=gemini.base_url, auth_mode="public")
        app = create_app(services=bootstrap(settings, migrate=True))
        worker, services = app.extensions["local_worker"], app.extensions["annotation"]
        try:
            started = time.monotonic()
            ids = [
                store_upload(services, check_upload(services, f"{n}.jpg", data)).record.id
                for n, data in enumerate(photos)
            ]
            while time.monotonic() - started < TIME_LIMIT_SECONDS:
                states = [record.caption_status for record in services.repository.find_many(ids)]
                if all(state in (JobState.COMPLETED, JobState.FAILED) for state in states):
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            records = services.repository.find_many(ids)
        finally:
            worker.stop()
        calls = len(gemini.requests)
    completed = sum(record.caption_status is JobState.COMPLETED for record in records)
    failed = sum(record.caption_status is JobState.FAILED for record in records)
    report = Report(
        "rate_limited",
        f"{uploads} uploads, {REFUSED:.0%} of caption calls refused with 429 (RetryInfo {RETRY_DELAY_SECONDS:g} s)",
        {"uploads": uploads, "refused_share": REFUSED, "worker_threads": settings.worker_threads},
    )
    report.results = {
        "captions": {"n": uploads, "completed": completed, "failed": failed, "stuck": uploads - completed - failed},
        "time": {"n": 1, "all_settled_s": elapsed, "per_upload_ms": elapsed * 1000 / uploads},
        "provider calls": {"n": calls, "per_caption": calls / uploads, "refused_est": calls - completed},
    }
    report.ratios["provider calls / captions (ideal 1 / (1 - 0.7) = 3.33)"] = calls / uploads
    verdict = "PASS" if completed == uploads else "FAIL"
    report.checks["every caption completed, none failed, none stuck"] = f"{verdict} ({completed}/{uploads})"
    report.notes.append("rate-limited attempts do not use up JOB_MAX_ATTEMPTS; each waits as asked, plus jitter")
    return report
