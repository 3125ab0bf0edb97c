"""`flask renditions backfill`: images made before renditions get them through their thumbnail job, a few at a
time; a dry run only counts; stopping part-way loses nothing and the next run finishes the rest."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from annotation_core.errors import ConfigurationError
from annotation_core.rendition_backfill import backfill_renditions
from annotation_core.schema import images
from tests import images as pictures
from tests.web_client import seed


def made_before_renditions(services, worker, count: int) -> list[int]:
    """Images as version 2.0 left them: a JPEG thumbnail at the old key, no preview, no facts."""
    ids = [seed(worker, f"old-{n}.jpg", pictures.jpeg((640, 480), color=(n * 50, 90, 160))) for n in range(count)]
    for image_id in ids:
        record = services.repository.get(image_id)
        for key in (record.thumbnail_key, record.preview_key):
            services.thumbnails.delete(key)
        old_key = f"thumbnails/{record.original_key.split('/')[-1].split('.')[0]}.jpg"
        services.thumbnails.save(old_key, pictures.jpeg((128, 96)), "image/jpeg")
        with services.engine.begin() as conn:
            conn.execute(
                images.update()
                .where(images.c.id == image_id)
                .values(thumbnail_key=old_key, preview_key=None, placeholder=None, thumbnail_width=None)
            )
    return ids


def lacking(services) -> int:
    return services.repository.count_lacking_renditions()


def test_dry_run_counts_and_changes_nothing(app, services, worker):
    made_before_renditions(services, worker, 3)
    result = app.test_cli_runner().invoke(args=["renditions", "backfill", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "3 images lack renditions." in result.output
    assert lacking(services) == 3


def test_backfill_re_renders_old_images_and_removes_their_old_thumbnails(app, services, worker):
    ids = made_before_renditions(services, worker, 3)
    old_keys = [services.repository.get(image_id).thumbnail_key for image_id in ids]

    result = app.test_cli_runner().invoke(args=["renditions", "backfill", "--concurrency", "2"])

    assert result.exit_code == 0, result.output
    assert "Re-rendered 3; 0 deleted meanwhile; 0 failed." in result.output
    assert lacking(services) == 0
    for image_id, old_key in zip(ids, old_keys, strict=True):
        record = services.repository.get(image_id)
        assert record.placeholder and record.thumbnail_width == 128
        assert services.thumbnails.exists(record.preview_key) and services.thumbnails.exists(record.thumbnail_key)
        assert not services.thumbnails.exists(old_key)
    assert "3 images lack renditions." in result.output and "0 images lack" not in result.output


def test_concurrency_bounds_the_jobs_queued_at_once(services, worker):
    made_before_renditions(services, worker, 5)
    queued_at_once = []
    real_due = services.announcer.due

    def due(jobs):
        jobs = list(jobs)
        queued_at_once.append(len(jobs))
        real_due(jobs)

    services.announcer.due = due
    result = backfill_renditions(services, concurrency=2, poll_seconds=0.05)
    assert result.rendered == 5
    assert max(queued_at_once) <= 2 and sum(queued_at_once) == 5


def test_a_stopped_backfill_resumes_with_the_images_still_lacking_renditions(services, worker):
    made_before_renditions(services, worker, 4)

    def stop_after_the_first(settled: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_renditions(services, concurrency=1, poll_seconds=0.05, progress=stop_after_the_first)
    assert worker.drain(timeout=30)
    assert lacking(services) == 3

    settled = []
    result = backfill_renditions(services, concurrency=2, poll_seconds=0.05, progress=settled.append)
    assert result.rendered == 3 and sum(settled) == 3
    assert lacking(services) == 0


def test_an_image_that_cannot_be_rendered_is_reported_and_not_selected_again(services, worker):
    (image_id,) = made_before_renditions(services, worker, 1)
    services.originals.save(services.repository.get(image_id).original_key, b"no longer an image", "image/jpeg")

    result = backfill_renditions(services, concurrency=1, poll_seconds=0.05)

    assert result.failed == [image_id] and result.rendered == 0
    assert "upload it again" in services.repository.get(image_id).thumbnail_error
    assert lacking(services) == 0
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(images.c.preview_key).where(images.c.id == image_id)).scalar() is None


def test_images_deleted_while_their_job_is_queued_are_counted_as_gone(services, worker):
    ids = made_before_renditions(services, worker, 3)
    real_due = services.announcer.due

    def due(jobs):
        jobs = list(jobs)
        for image_id, _job in jobs:
            if image_id != ids[1]:  # someone deletes the other two before their job runs
                services.repository.delete(image_id)
        real_due(jobs)

    services.announcer.due = due
    result = backfill_renditions(services, concurrency=3, poll_seconds=0.05)
    assert (result.gone, result.rendered, result.failed) == (2, 1, [])
    assert lacking(services) == 0


def test_without_an_announcer_the_backfill_says_what_to_set_and_queues_nothing(services, worker):
    made_before_renditions(services, worker, 1)
    with pytest.raises(ConfigurationError) as caught:
        backfill_renditions(dataclasses.replace(services, announcer=None))
    assert caught.value.message == "The backfill announces thumbnail jobs: set EVENT_BUS_NAME (on AWS, 'default')."
    assert lacking(services) == 1
