"""The embedded processing tier: one worker per DATA_DIR, jobs from its queue and from other processes'
datagrams, and a sweeper that finishes what crashes and lost announcements left behind."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from annotation_core.announcers import InProcessAnnouncer, LocalAnnouncer
from annotation_core.bootstrap import bootstrap
from annotation_core.job_store import utcnow
from annotation_core.lifecycle import JobOutput
from annotation_core.local_channel import WorkerLock
from annotation_core.records import Job, JobState
from annotation_core.repository import NewImage
from annotation_core.schema import images as table
from annotation_core.settings import Settings
from annotation_core.sweeper import SweepResult, sweep
from annotation_core.uploads import check_upload, store_upload
from lambda_functions.local_worker import LocalWorker
from tests import images


@pytest.fixture
def local_settings(tmp_path, fake_gemini) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        gemini_api_key="key",
        gemini_base_url=fake_gemini.base_url,
        job_lease_seconds=30,
        job_retry_base_seconds=0.2,
    )


@pytest.fixture
def services(local_settings, engine):
    return bootstrap(local_settings, engine=engine)


@pytest.fixture
def start_worker(services):
    started = []

    def start() -> LocalWorker:
        worker = LocalWorker.start_if_none_running(services)
        assert worker is not None
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def stored_original(services, name: str = "crashed.jpg") -> int:
    """An image whose original was stored but whose jobs were never announced (the process died right after)."""
    data = images.jpeg((120, 80))
    key = f"uploads/{name}"
    record = services.repository.insert(NewImage(key, name, "image/jpeg", len(data), 120, 80, name.ljust(64, "0")))
    services.originals.save(key, data, "image/jpeg")
    return record.id


def expire_lease(engine, image_id: int, job: Job, seconds: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.id == image_id)
            .values({f"{job}_started_at": utcnow() - timedelta(seconds=seconds)})
        )


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_start_up_sweep_finishes_unannounced_and_expired_jobs(services, engine, start_worker):
    image_id = stored_original(services)
    services.repository.claim(image_id, Job.THUMBNAIL, 30)  # a worker took it, then died
    expire_lease(engine, image_id, Job.THUMBNAIL, 35)

    worker = start_worker()

    wait_for(lambda: services.repository.get(image_id).status is JobState.COMPLETED)
    row = services.repository.get(image_id)
    assert row.thumbnail_attempts == 2  # the crashed attempt and the recovery
    assert row.caption_attempts == 1
    assert worker.sweep().total == 0, "nothing is left to announce"


def test_sweep_leaves_a_job_whose_lease_is_still_held(services, start_worker):
    image_id = stored_original(services)
    claim = services.repository.claim(image_id, Job.CAPTION, 30)  # another worker holds it now
    worker = start_worker()

    wait_for(lambda: services.repository.get(image_id).thumbnail_status is JobState.COMPLETED)
    worker.sweep(lost_after=0)
    assert worker.drain(timeout=10)

    row = services.repository.get(image_id)
    assert row.caption_status is JobState.PROCESSING and row.caption_started_at == claim.started_at


def swept(services, **options) -> tuple[list[tuple[int, Job]], SweepResult]:
    """One sweep, and the jobs it announced in order."""
    heard = []
    announcer = InProcessAnnouncer(lambda image_id, job: heard.append((image_id, job)))
    return heard, sweep(services.repository, announcer, services.settings, **options)


def test_a_sweep_announces_the_oldest_jobs_whose_event_was_lost_a_batch_at_a_time(services, engine):
    lost = [stored_original(services, f"lost-{n}.jpg") for n in range(3)]
    recent = stored_original(services, "recent.jpg")
    with engine.begin() as conn:  # queued over a minute ago and never claimed: their events were lost
        minute_ago = utcnow() - timedelta(seconds=61)
        conn.execute(sa.update(table).where(table.c.id != recent).values(thumbnail_queued_at=minute_ago))
        conn.execute(sa.update(table).where(table.c.id != recent).values(caption_queued_at=minute_ago))

    heard, result = swept(services, batch=2)

    assert heard == [(lost[0], Job.THUMBNAIL), (lost[1], Job.THUMBNAIL), (lost[0], Job.CAPTION), (lost[1], Job.CAPTION)]
    assert (result.announced, result.total) == ({Job.THUMBNAIL: 2, Job.CAPTION: 2}, 4)
    assert swept(services)[1].announced == {Job.THUMBNAIL: 3, Job.CAPTION: 3}, "the default batch holds them all"


def test_a_sweep_says_when_to_come_back(services, engine):
    heard, result = swept(services)
    assert (heard, result.total, result.next_attempt_at) == ([], 0, None), "nothing waits"

    retrying = stored_original(services, "retrying.jpg")
    later = utcnow() + timedelta(minutes=2)
    services.repository.retry_later(services.repository.claim(retrying, Job.CAPTION, 30), "503", later)
    assert swept(services)[1].next_attempt_at == later, "when the retry falls due"

    running = stored_original(services, "running.jpg")
    services.repository.claim(running, Job.THUMBNAIL, 30)
    expire_lease(engine, running, Job.THUMBNAIL, 15)  # its worker started 15 s ago: the 30 s lease has 15 s left
    started = services.repository.get(running).thumbnail_started_at
    assert swept(services)[1].next_attempt_at == started + timedelta(seconds=30), "when the lease runs out, sooner"


def test_a_caption_rate_limited_three_times_completes_by_itself(services, start_worker, fake_gemini):
    for _ in range(3):
        fake_gemini.respond_with(429)  # each asks for 0.3 s, as Gemini's RetryInfo does
    worker = start_worker()
    started = time.monotonic()
    image_id = store_upload(worker.services, check_upload(worker.services, "a.jpg", images.jpeg())).record.id

    wait_for(lambda: services.repository.get(image_id).caption_status is JobState.COMPLETED)

    row = services.repository.get(image_id)
    assert len(fake_gemini.requests) == 4
    assert row.caption_attempts == 1, "rate-limited attempts are given back"
    assert row.caption_error is None and row.caption_next_attempt_at is None
    assert time.monotonic() - started >= 3 * 0.3, "each wait Gemini asked for was honoured"


def test_a_failing_provider_uses_up_the_attempts_then_fails_with_the_last_reason(services, start_worker, fake_gemini):
    for _ in range(10):
        fake_gemini.respond_with(503)
    worker = start_worker()
    image_id = store_upload(worker.services, check_upload(worker.services, "a.jpg", images.jpeg())).record.id

    wait_for(lambda: services.repository.get(image_id).caption_status is JobState.FAILED, timeout=30)

    row = services.repository.get(image_id)
    assert row.caption_attempts == services.settings.job_max_attempts == 5
    assert len(fake_gemini.requests) == 5
    assert row.caption_error.startswith("Gave up after 5 attempts: Gemini is unavailable (503")


def test_jobs_announced_by_another_process_reach_the_worker(services, start_worker):
    start_worker()
    web = bootstrap(services.settings, engine=services.engine)  # as a web process sees it
    assert isinstance(web.announcer, LocalAnnouncer)
    assert WorkerLock(services.settings.data_dir).held_elsewhere()

    image_id = store_upload(web, check_upload(web, "a.jpg", images.jpeg())).record.id

    wait_for(lambda: services.repository.get(image_id).status is JobState.COMPLETED)


def test_only_one_worker_runs_per_data_dir(services, start_worker):
    start_worker()
    assert LocalWorker.start_if_none_running(services) is None


def test_the_same_job_announced_many_times_runs_once(services, start_worker, fake_gemini):
    fake_gemini.delay_seconds = 0.3  # long enough for the duplicates to arrive while it is queued or running
    worker = start_worker()
    assert worker.drain()
    image_id = stored_original(services)
    threads = [threading.Thread(target=worker.enqueue, args=(image_id, Job.CAPTION)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: services.repository.get(image_id).caption_status is JobState.COMPLETED)
    assert worker.drain()
    assert len(fake_gemini.requests) == 1
    assert services.repository.get(image_id).caption_attempts == 1


def test_image_deleted_while_its_thumbnail_is_made_leaves_no_thumbnail(services, start_worker):
    from annotation_core.image_actions import delete_image

    worker = start_worker()
    image_id = stored_original(services, "gone.jpg")
    make_thumbnail = worker.works[Job.THUMBNAIL]

    def thumbnail_then_user_deletes(job) -> JobOutput:
        output = make_thumbnail(job)
        assert services.thumbnails.exists(output.columns["thumbnail_key"])
        delete_image(services, job.record.id)  # the user presses Delete while the job runs
        return output

    worker.works[Job.THUMBNAIL] = thumbnail_then_user_deletes
    worker.enqueue(image_id, Job.THUMBNAIL)
    assert worker.drain()

    assert services.repository.find(image_id) is None
    assert list(services.thumbnails.root.rglob("*.jpg")) == []
