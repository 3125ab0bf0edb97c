"""The embedded processing tier: jobs a crash left pending or processing are picked up again."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from annotation_core.bootstrap import bootstrap
from annotation_core.records import Job
from annotation_core.repository import NewImage, utcnow
from annotation_core.schema import images as table
from annotation_core.settings import Settings
from lambda_functions.local_worker import LocalWorker
from tests import images


def crashed_image(services, engine, lease: int):
    """An image whose original was stored but whose jobs never ran or died mid-way (the process was killed)."""
    data = images.jpeg((120, 80))
    key = "uploads/crashed.jpg"
    record = services.repository.insert(NewImage(key, "crashed.jpg", "image/jpeg", len(data), 120, 80, "c" * 64))
    services.originals.root.joinpath("uploads").mkdir(parents=True, exist_ok=True)
    services.originals.root.joinpath(key).write_bytes(data)  # written without an event, as if we died right after
    services.repository.claim(record.id, Job.THUMBNAIL, lease)
    with engine.begin() as conn:  # the dead worker's lease ran out long ago
        conn.execute(
            sa.update(table)
            .where(table.c.id == record.id)
            .values(thumbnail_started_at=utcnow() - timedelta(seconds=lease + 5))
        )
    return record


def test_start_up_sweep_finishes_pending_and_expired_jobs(tmp_path, engine, fake_gemini):
    settings = Settings(
        data_dir=str(tmp_path / "data"),
        gemini_api_key="key",
        gemini_base_url=fake_gemini.base_url,
        job_lease_seconds=30,
    )
    services = bootstrap(settings, engine=engine)
    record = crashed_image(services, engine, lease=30)
    worker = LocalWorker(services, services.local_bus)

    assert worker.sweep() == 1
    assert services.local_bus.drain(timeout=30)

    row = services.repository.get(record.id)
    assert (row.thumbnail_status, row.caption_status) == ("completed", "completed")
    assert row.thumbnail_attempts == 2  # the crashed attempt and the recovery
    assert worker.sweep() == 0
    services.local_bus.shutdown()


def test_sweep_leaves_a_job_whose_lease_is_still_held(tmp_path, engine):
    services = bootstrap(Settings(data_dir=str(tmp_path / "data")), engine=engine)
    data = images.jpeg()
    record = services.repository.insert(
        NewImage("uploads/busy.jpg", "busy.jpg", "image/jpeg", len(data), 64, 48, "b" * 64)
    )
    services.originals.save("uploads/busy.jpg", data, "image/jpeg")  # publishes: both jobs run
    assert services.local_bus.drain(timeout=30)
    services.repository.reset_failed(record.id)  # the caption failed (no key): put it back
    claim = services.repository.claim(record.id, Job.CAPTION, 90)  # another worker holds it now
    worker = LocalWorker(services, services.local_bus)

    worker.sweep()
    assert services.local_bus.drain(timeout=30)

    row = services.repository.get(record.id)
    assert row.caption_status == "processing" and row.caption_started_at == claim.started_at
    services.local_bus.shutdown()


def test_app_start_runs_the_sweep(tmp_path, engine):
    from web_app.app import create_app

    settings = Settings(data_dir=str(tmp_path / "data"), job_lease_seconds=30)
    services = bootstrap(settings, engine=engine)
    record = crashed_image(services, engine, lease=30)

    app = create_app(services=services)
    try:
        deadline = utcnow() + timedelta(seconds=20)
        while services.repository.get(record.id).thumbnail_status != "completed" and utcnow() < deadline:
            services.local_bus.drain(timeout=1)
        assert services.repository.get(record.id).thumbnail_status == "completed"
    finally:
        app.extensions["local_worker"].stop()
        services.local_bus.shutdown()


def test_image_deleted_while_its_thumbnail_is_made_leaves_no_thumbnail(tmp_path, engine):
    from annotation_core.events import ObjectCreated, eventbridge_event
    from annotation_core.image_actions import delete_image
    from annotation_core.tasks import run_job
    from lambda_functions.thumbnail_lambda.lambda_function import create_thumbnail

    services = bootstrap(Settings(data_dir=str(tmp_path / "data")), engine=engine)
    services.local_bus.shutdown()  # this test runs the job itself, at a chosen moment
    data = images.jpeg()
    record = services.repository.insert(
        NewImage("uploads/gone.jpg", "gone.jpg", "image/jpeg", len(data), 64, 48, "g" * 64)
    )
    services.originals.root.joinpath("uploads").mkdir(parents=True)
    services.originals.root.joinpath("uploads", "gone.jpg").write_bytes(data)

    def thumbnail_then_user_deletes(services, record, original):
        output = create_thumbnail(services, record, original)
        assert services.thumbnails.exists(output.columns["thumbnail_key"])
        delete_image(services, record.id)  # the user presses Delete while the job runs
        return output

    event = eventbridge_event(ObjectCreated(services.originals.bucket, "uploads/gone.jpg"))
    assert run_job(Job.THUMBNAIL, event, services, thumbnail_then_user_deletes) == {"lost": 1}

    assert services.repository.find(record.id) is None
    assert list(services.thumbnails.root.rglob("*.jpg")) == []
