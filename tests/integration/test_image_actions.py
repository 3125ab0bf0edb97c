"""What a person does to existing images (retry, regenerate a caption, delete), through annotation_core.image_actions
on a real database with the announcements recorded: the web routes and `flask captions backfill` call these."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from annotation_core import image_actions
from annotation_core.bootstrap import Services, bootstrap
from annotation_core.errors import ConfigurationError, ImageNotFoundError
from annotation_core.image_actions import JobBusyError, regenerate_caption, regenerate_captions, retry_failed
from annotation_core.job_store import utcnow
from annotation_core.records import Job, JobState, Role
from annotation_core.repository import NewImage
from annotation_core.schema import images


class Announcements:
    """An announcer that remembers what it was told."""

    def __init__(self):
        self.due_jobs: list[tuple[int, Job]] = []

    def uploaded(self, image_id: int) -> None:
        self.due((image_id, job) for job in Job)

    def due(self, jobs: Iterable[tuple[int, Job]]) -> None:
        self.due_jobs.extend(jobs)


@pytest.fixture
def announced() -> Announcements:
    return Announcements()


@pytest.fixture
def services(settings, engine, announced) -> Services:
    return bootstrap(settings, engine=engine).with_announcer(announced)


def new_image(services: Services, name: str, uploaded_by: int | None = None) -> int:
    record = services.repository.insert(
        NewImage(f"uploads/{name}", name, "image/jpeg", 100, 10, 10, name.ljust(64, "0"), uploaded_by)
    )
    return record.id


def failed(services: Services, image_id: int, job: Job) -> None:
    claim = services.repository.claim(image_id, job, 30)
    assert services.repository.fail(claim, "It broke.")


def being_captioned(services: Services, image_id: int) -> None:
    assert services.repository.claim(image_id, Job.CAPTION, services.settings.job_lease_seconds) is not None


def member(services: Services, name: str) -> int:
    return services.users.create(name, "not-a-real-hash", Role.MEMBER).id


def test_retry_failed_resets_and_announces_the_failed_jobs_of_the_images_given(services, announced):
    first, second, untouched = (new_image(services, name) for name in ("a.jpg", "b.jpg", "c.jpg"))
    failed(services, first, Job.CAPTION)
    failed(services, second, Job.THUMBNAIL)
    failed(services, untouched, Job.CAPTION)

    reset = retry_failed(services, [first, second])

    assert sorted(reset) == [(first, Job.CAPTION), (second, Job.THUMBNAIL)]
    assert sorted(announced.due_jobs) == sorted(reset)
    assert services.repository.get(untouched).caption_status is JobState.FAILED


def test_retry_failed_of_everything_or_of_one_member_s_images(services, announced):
    alice, bob = member(services, "alice"), member(services, "bob")
    hers, his = new_image(services, "hers.jpg", alice), new_image(services, "his.jpg", bob)
    failed(services, hers, Job.CAPTION)
    failed(services, his, Job.CAPTION)

    assert retry_failed(services, uploaded_by=alice) == [(hers, Job.CAPTION)]
    failed(services, hers, Job.CAPTION)
    assert sorted(retry_failed(services)) == [(hers, Job.CAPTION), (his, Job.CAPTION)]
    assert retry_failed(services) == []
    assert len(announced.due_jobs) == 3


def test_retry_all_takes_the_newest_failed_jobs_up_to_its_limit_and_again_for_more(services, announced, monkeypatch):
    monkeypatch.setattr(image_actions, "RETRY_ALL_LIMIT", 2)  # 1000 in use: as many failed images would be slow
    oldest, middle, newest = (new_image(services, f"{n}.jpg") for n in range(3))
    for image_id in (oldest, middle, newest):
        failed(services, image_id, Job.CAPTION)

    assert retry_failed(services) == [(newest, Job.CAPTION), (middle, Job.CAPTION)]
    assert retry_failed(services) == [(oldest, Job.CAPTION)], "pressed again: the rest"


def test_regenerating_a_caption_queues_it_announces_it_and_answers_the_image_as_it_now_is(services, announced):
    image_id = new_image(services, "a.jpg")
    failed(services, image_id, Job.CAPTION)

    record = regenerate_caption(services, image_id)

    assert (record.id, record.caption_status, record.caption_error) == (image_id, JobState.PENDING, None)
    assert announced.due_jobs == [(image_id, Job.CAPTION)]


def test_regenerating_a_caption_being_written_is_refused_until_its_lease_runs_out(services, announced):
    image_id = new_image(services, "a.jpg")
    being_captioned(services, image_id)

    with pytest.raises(JobBusyError) as caught:
        regenerate_caption(services, image_id)

    assert caught.value.message == "A caption is being written for this image right now; try again when it is done."
    assert caught.value.http_status == 409
    assert announced.due_jobs == []
    lease = services.settings.job_lease_seconds
    with services.engine.begin() as conn:  # the worker died: its lease ran out a second ago
        conn.execute(
            sa.update(images)
            .where(images.c.id == image_id)
            .values(caption_started_at=utcnow() - timedelta(seconds=lease + 1))
        )
    assert regenerate_caption(services, image_id).caption_status is JobState.PENDING
    assert announced.due_jobs == [(image_id, Job.CAPTION)]


def test_regenerating_the_caption_of_an_unknown_image_is_not_found(services, announced):
    with pytest.raises(ImageNotFoundError):
        regenerate_caption(services, 999)
    assert announced.due_jobs == []


def test_regenerating_many_captions_queues_the_free_ones_names_the_busy_and_skips_others_images(services, announced):
    alice, bob = member(services, "alice"), member(services, "bob")
    free, busy, mine_too = (new_image(services, name, alice) for name in ("free.jpg", "busy.jpg", "mine.jpg"))
    others = new_image(services, "others.jpg", bob)  # the newest: found first
    being_captioned(services, busy)

    queued, refused = regenerate_captions(services, [free, busy, mine_too, others, 999], uploaded_by=alice)

    assert (queued, refused) == ([mine_too, free], [busy])
    assert announced.due_jobs == [(mine_too, Job.CAPTION), (free, Job.CAPTION)]
    assert services.repository.get(others).caption_status is JobState.PENDING
    assert regenerate_captions(services, [others]) == ([others], []), "without an owner, anyone's"


def test_without_an_announcer_retries_are_refused_saying_what_to_set(services):
    without = dataclasses.replace(services, announcer=None)
    image_id = new_image(services, "a.jpg")
    for action in (
        lambda: retry_failed(without),
        lambda: regenerate_caption(without, image_id),
        lambda: regenerate_captions(without, [image_id]),
    ):
        with pytest.raises(ConfigurationError) as caught:
            action()
        assert caught.value.message == "Retries need an event bus: set EVENT_BUS_NAME (on AWS, 'default')."
    assert services.repository.get(image_id).caption_attempts == 0
