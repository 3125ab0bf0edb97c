"""Accepting an upload, below the web tier: the hourly quota and its wording, and the same bytes uploaded again."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from annotation_core.bootstrap import bootstrap
from annotation_core.errors import TooManyRequestsError
from annotation_core.job_store import utcnow
from annotation_core.records import Job, JobState, Role
from annotation_core.repository import PURGING, NewImage
from annotation_core.schema import images as table
from annotation_core.settings import Settings
from annotation_core.storage import S3Store
from annotation_core.uploads import UploadConflictError, check_upload, check_upload_quota, store_upload
from tests import images

LIMIT = 3


@pytest.fixture
def services(tmp_path, engine):
    return bootstrap(Settings(data_dir=str(tmp_path / "data"), uploads_per_hour=LIMIT), engine=engine)


@pytest.fixture
def uploader(services) -> int:
    return services.users.create("uploader", "not-a-real-hash", Role.MEMBER).id


def upload(services, user_id: int, shade: int):
    return store_upload(
        services, check_upload(services, f"{shade}.jpg", images.jpeg(color=(shade * 40 % 256, 10, 10))), user_id
    )


def refusal(services, user_id: int, files: int) -> TooManyRequestsError:
    with pytest.raises(TooManyRequestsError) as caught:
        check_upload_quota(services, user_id, files)
    return caught.value


def test_a_user_may_upload_up_to_the_limit_in_an_hour_and_is_told_when_to_come_back(services, uploader):
    for shade in range(LIMIT - 1):
        upload(services, uploader, shade)
    check_upload_quota(services, uploader, 1)  # the last one allowed
    upload(services, uploader, 5)

    refused = refusal(services, uploader, 1)

    assert (
        refused.message
        == "You may upload 3 images an hour and have uploaded 3 in the last hour: try again in 60 minutes."
    )
    assert 3590 < refused.retry_after <= 3600
    check_upload_quota(services, uploader + 1, LIMIT)  # another user has their own allowance


def test_the_wait_runs_until_the_oldest_upload_of_the_hour_leaves_it(services, uploader, engine):
    ids = [upload(services, uploader, shade).record.id for shade in range(LIMIT)]
    with engine.begin() as conn:  # the first upload was 59½ minutes ago
        conn.execute(
            sa.update(table)
            .where(table.c.id == ids[0])
            .values(uploaded_at=utcnow() - timedelta(minutes=59, seconds=30))
        )

    refused = refusal(services, uploader, 1)

    assert refused.message.endswith("try again in 1 minute.")
    assert 25 < refused.retry_after <= 30


def uploaded_ago(engine, image_id: int, ago: timedelta) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == image_id).values(uploaded_at=utcnow() - ago))


def test_a_batch_of_exactly_the_limit_waits_until_the_uploads_of_the_hour_leave_it(services, uploader, engine):
    uploaded_ago(engine, upload(services, uploader, 0).record.id, timedelta(minutes=29, seconds=30))

    refused = refusal(services, uploader, LIMIT)

    # 30½ minutes to go: the wait is rounded up to whole minutes, never down to a time that would be refused.
    assert refused.message.endswith("have uploaded 1 in the last hour: try again in 31 minutes.")
    assert 1825 < refused.retry_after <= 1830


def test_a_batch_larger_than_the_limit_waits_a_whole_hour_whatever_was_uploaded(services, uploader, engine):
    uploaded_ago(engine, upload(services, uploader, 0).record.id, timedelta(minutes=50))
    refused = refusal(services, uploader, LIMIT + 1)
    assert refused.message.endswith("try again in 60 minutes.") and refused.retry_after == 3600


def test_more_files_at_once_than_the_limit_allows_wait_a_whole_hour(services, uploader):
    refused = refusal(services, uploader, LIMIT + 1)
    assert (
        refused.message
        == "You may upload 3 images an hour and have uploaded 0 in the last hour: try again in 60 minutes."
    )
    assert refused.retry_after == 3600


def test_uploads_older_than_an_hour_do_not_count(services, uploader, engine):
    for shade in range(LIMIT):
        upload(services, uploader, shade)
    with engine.begin() as conn:
        conn.execute(sa.update(table).values(uploaded_at=utcnow() - timedelta(hours=1, seconds=1)))
    check_upload_quota(services, uploader, LIMIT)


def test_the_same_bytes_again_are_the_same_image_even_from_the_trash(services, uploader):
    first = upload(services, uploader, 7)
    again = upload(services, uploader, 7)
    assert (first.duplicate, again.duplicate, again.record.id) == (False, True, first.record.id)
    assert services.repository.trash([first.record.id]) == [first.record.id]

    back = upload(services, uploader, 7)

    assert (back.duplicate, back.record.id, back.record.deleted_at) == (True, first.record.id, None)
    assert services.repository.get(first.record.id).deleted_at is None


def test_the_same_bytes_while_their_image_is_being_purged_are_a_conflict(services, uploader, engine):
    first = upload(services, uploader, 7)
    with engine.begin() as conn:  # the trash's purge has begun on it (its objects are going)
        conn.execute(sa.update(table).where(table.c.id == first.record.id).values(deleted_at=PURGING))

    with pytest.raises(UploadConflictError) as caught:
        upload(services, uploader, 7)

    assert caught.value.http_status == 409
    assert caught.value.message == ("The same photo is being deleted from the trash right now; upload it again soon.")


def lose_the_race(services, checked, uploader, monkeypatch, then=lambda winner: None):
    """Store `checked` as a request that looked for its bytes just before another request stored them (and
    `then` did what followed the other request); returns (the other request's upload, this one's)."""
    look_up, other = services.repository.find_by_sha256, {}

    def seen_just_before_the_other_upload_commits(digest):
        if other:
            return look_up(digest)
        other["upload"] = None
        other["upload"] = store_upload(services, checked, uploader)  # the other request wins the race...
        then(other["upload"])
        return None  # ...right after this one looked and found nothing

    monkeypatch.setattr(services.repository, "find_by_sha256", seen_just_before_the_other_upload_commits)
    ours = store_upload(services, checked, uploader)
    return other["upload"], ours


def test_the_same_bytes_arriving_together_become_one_image(services, uploader, monkeypatch):
    checked = check_upload(services, "twice.jpg", images.jpeg(color="teal"))
    winner, ours = lose_the_race(services, checked, uploader, monkeypatch)

    assert (winner.duplicate, ours.duplicate) == (False, True)
    assert ours.record.id == winner.record.id
    assert [record.id for record in services.repository.page()] == [ours.record.id]


def test_an_upload_that_loses_the_race_to_an_image_now_in_the_trash_brings_it_back(services, uploader, monkeypatch):
    checked = check_upload(services, "twice.jpg", images.jpeg(color="olive"))

    def trash_at_once(winner):  # the other request's image is put in the trash at once
        services.repository.trash([winner.record.id])

    winner, ours = lose_the_race(services, checked, uploader, monkeypatch, then=trash_at_once)

    assert (ours.duplicate, ours.record.id, ours.record.deleted_at) == (True, winner.record.id, None)
    assert services.repository.get(ours.record.id).deleted_at is None


class RecordingAnnouncer:
    def __init__(self):
        self.uploaded_ids: list[int] = []

    def uploaded(self, image_id: int) -> None:
        self.uploaded_ids.append(image_id)

    def due(self, jobs) -> None:
        raise AssertionError("an upload announces its image, not single jobs")


def test_the_same_bytes_again_write_a_lost_original_back_and_retry_the_jobs_it_failed(services, uploader, aws_env):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="originals")
        announcer = RecordingAnnouncer()
        services = dataclasses.replace(services, originals=S3Store("originals", s3), announcer=announcer)
        first = upload(services, uploader, 3).record
        assert s3.head_object(Bucket="originals", Key=first.original_key)["ContentType"] == "image/jpeg"
        s3.delete_object(Bucket="originals", Key=first.original_key)  # as if lost after its row was written
        for job in Job:  # both jobs found no original and failed
            claim = services.repository.claim(first.id, job, services.settings.job_lease_seconds)
            assert services.repository.fail(claim, f"{first.original_key} is missing; upload the image again.")

        again = upload(services, uploader, 3)

        assert (again.duplicate, again.record.id) == (True, first.id)
        assert s3.head_object(Bucket="originals", Key=first.original_key)["ContentType"] == "image/jpeg"
        assert (again.record.thumbnail_status, again.record.caption_status) == (JobState.PENDING, JobState.PENDING)
        assert announcer.uploaded_ids == [first.id, first.id]


def test_an_upload_that_loses_the_race_to_a_row_whose_object_is_not_written_yet_writes_it(
    services, uploader, monkeypatch
):
    checked = check_upload(services, "twice.jpg", images.jpeg(color="navy"))
    look_up, other = services.repository.find_by_sha256, {}

    def seen_just_before_the_other_upload_writes_its_row(digest):
        if other:
            return look_up(digest)
        info = checked.info  # the other request has committed its row and not yet written its object
        other["row"] = services.repository.insert(
            NewImage(
                "uploads/other.jpg",
                "twice.jpg",
                info.mime_type,
                len(checked.data),
                info.width,
                info.height,
                checked.sha256,
                uploader,
            )
        )
        return None

    monkeypatch.setattr(services.repository, "find_by_sha256", seen_just_before_the_other_upload_writes_its_row)
    ours = store_upload(services, checked, uploader)

    assert (ours.duplicate, ours.record.id) == (True, other["row"].id)
    assert services.originals.load("uploads/other.jpg") == checked.data  # the same bytes, written by us
