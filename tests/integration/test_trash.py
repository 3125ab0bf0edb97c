"""The trash through the API, on SQLite and MySQL: moved images vanish from every listing and their jobs stop,
restore brings them back as they were, and the sweeper's purge deletes objects then rows once their time is
up, never one that a restore or a running job still holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from annotation_core.errors import StorageError
from annotation_core.job_store import utcnow
from annotation_core.records import Job
from annotation_core.repository import PURGING
from annotation_core.schema import images as table
from annotation_core.trash import purge_expired, restore_from_trash
from tests import images
from tests.web_client import JSON, csrf_token, seed, upload


@pytest.fixture
def settings(gemini_settings):
    return gemini_settings


def post(client, path: str, body) -> object:
    return client.post(path, json=body, headers={**JSON, "X-CSRFToken": csrf_token(client)})


def listed_ids(client, query: str = "") -> list[int]:
    return [image["id"] for image in client.get(f"/api/images{query}").get_json()["images"]]


def test_trashed_images_vanish_everywhere_and_restore_brings_them_back_as_they_were(
    client, services, worker, fake_gemini
):
    keep = seed(worker, "keep.jpg", images.jpeg(color="blue"), fake_gemini, "A blue lighthouse.")
    gone = seed(worker, "gone.jpg", images.jpeg(color="red"), fake_gemini, "A red lighthouse.")
    before = client.get(f"/api/images/{gone}").get_json()

    moved = post(client, "/api/images/delete", {"ids": [gone, keep, 999_999]})

    assert moved.status_code == 200
    assert moved.get_json() == {"images": [gone, keep]}
    assert listed_ids(client) == []
    assert listed_ids(client, "?q=lighthouse") == []
    assert listed_ids(client, "?status=completed") == []
    assert listed_ids(client, "?sort=taken") == []
    assert client.get(f"/api/images/{gone}").status_code == 404
    assert client.get(f"/images/{gone}").status_code == 404
    assert client.get(f"/api/image_status?ids={gone},{keep}").get_json() == {"images": []}
    assert "gone.jpg" not in client.get("/gallery").get_data(as_text=True)
    assert services.originals.exists(services.repository.find(gone, include_trashed=True).original_key)

    restored = post(client, "/api/images/restore", {"ids": [gone]})

    assert restored.status_code == 200 and restored.get_json() == {"images": [gone]}
    assert listed_ids(client) == [gone]
    after = client.get(f"/api/images/{gone}").get_json()
    assert {**after, "updated_at": None} == {**before, "updated_at": None}
    assert post(client, "/api/images/restore", {"ids": [gone]}).get_json() == {"images": []}, "not in the trash"


@pytest.mark.parametrize("body", [None, {}, {"ids": []}, {"ids": ["3"]}, {"ids": [0]}, {"ids": list(range(1, 102))}])
def test_trash_and_restore_refuse_bad_bodies(client, body):
    for path in ("/api/images/delete", "/api/images/restore", "/api/images/caption"):
        response = post(client, path, body)
        assert response.status_code == 400, (path, body)
        assert "ids" in response.get_json()["error"]


def test_a_member_trashes_and_restores_only_their_own_images(client_as, services, worker):
    member = client_as("member")
    member_id = services.users.get_by_name("member").id
    theirs = seed(worker, "theirs.jpg", images.jpeg(color="red"), uploaded_by=member_id)
    others = seed(worker, "others.jpg", images.jpeg(color="blue"))

    assert post(member, "/api/images/delete", {"ids": [theirs, others]}).get_json()["images"] == [theirs]
    services.repository.trash([others])
    assert post(member, "/api/images/restore", {"ids": [theirs, others]}).get_json() == {"images": [theirs]}
    assert services.repository.find(others) is None


def test_the_jobs_of_a_trashed_image_are_not_claimed_announced_or_retried(services, worker, fake_gemini):
    fake_gemini.respond_with(403)
    image_id = seed(worker, "failing.jpg", images.jpeg())
    repository, lease = services.repository, services.settings.job_lease_seconds
    repository.requeue(image_id, Job.CAPTION, lease)
    repository.trash([image_id])

    assert repository.claim(image_id, Job.CAPTION, lease) is None
    assert repository.due_jobs(Job.CAPTION, lease_seconds=lease, lost_after=0, limit=10) == []
    assert repository.reset_failed() == []
    assert repository.reset_for_retry(image_id, lease) == []

    repository.restore([image_id])
    assert repository.due_jobs(Job.CAPTION, lease_seconds=lease, lost_after=0, limit=10) == [image_id]


def test_a_search_page_is_not_cut_short_by_trashed_matches(client, services, worker, fake_gemini):
    ids = [
        seed(worker, f"beach-{n}.jpg", images.jpeg(color=(n * 60, 90, 90)), fake_gemini, "A beach.") for n in range(4)
    ]
    services.repository.trash([ids[3], ids[2]])

    page = client.get("/api/images?q=beach&limit=1").get_json()

    assert [image["id"] for image in page["images"]] == [ids[1]]
    rest = client.get(f"/api/images?q=beach&limit=1&cursor={page['next_cursor']}").get_json()
    assert [image["id"] for image in rest["images"]] == [ids[0]]


def test_the_same_bytes_uploaded_again_bring_a_trashed_image_back(client, services, worker):
    data = images.jpeg(color="green")
    image_id = seed(worker, "again.jpg", data)
    services.repository.trash([image_id])

    stored = upload(client, (data, "again-copy.jpg")).get_json()["images"][0]

    assert (stored["id"], stored["duplicate"]) == (image_id, True)
    assert listed_ids(client) == [image_id]


def test_purge_deletes_objects_then_rows_once_the_retention_is_over(services, worker):
    image_id = seed(worker, "old.jpg", images.jpeg(color="navy"))
    record = services.repository.get(image_id)
    services.repository.trash([image_id])
    retention = timedelta(days=services.settings.trash_retention_days)

    assert purge_expired(services, now=utcnow() + retention - timedelta(minutes=1)) == 0
    assert services.originals.exists(record.original_key)

    assert purge_expired(services, now=utcnow() + retention + timedelta(minutes=1)) == 1
    assert services.repository.find(image_id, include_trashed=True) is None
    for store, key in (
        (services.originals, record.original_key),
        (services.thumbnails, record.thumbnail_key),
        (services.thumbnails, record.preview_key),
    ):
        assert not store.exists(key)


def test_a_sweep_purges_at_most_its_batch_and_the_next_sweep_takes_the_rest(services, worker):
    trashed = [seed(worker, f"batch-{n}.jpg", images.jpeg(color=(40 * n, 60, 60))) for n in range(3)]
    services.repository.trash(trashed)
    later = utcnow() + timedelta(days=services.settings.trash_retention_days, minutes=1)

    assert purge_expired(services, now=later, batch=2) == 2
    assert purge_expired(services, now=later, batch=2) == 1
    assert purge_expired(services, now=later, batch=2) == 0
    assert [services.repository.find(image_id, include_trashed=True) for image_id in trashed] == [None] * 3


def test_a_storage_failure_leaves_that_image_to_the_next_sweep_and_the_sweep_goes_on(services, worker, monkeypatch):
    stuck = seed(worker, "stuck.jpg", images.jpeg(color="coral"))
    other = seed(worker, "other.jpg", images.jpeg(color="khaki"))
    services.repository.trash([stuck])  # the older of the two in the trash, so purged first
    services.repository.trash([other])
    stuck_key = services.repository.find(stuck, include_trashed=True).original_key
    delete = services.originals.delete

    def unavailable_for_one(key: str) -> None:
        if key == stuck_key:
            raise StorageError(f"Could not delete {key}: the bucket is unavailable.")
        delete(key)

    monkeypatch.setattr(services.originals, "delete", unavailable_for_one)
    later = utcnow() + timedelta(days=services.settings.trash_retention_days, minutes=1)

    assert purge_expired(services, now=later) == 1
    assert services.repository.find(other, include_trashed=True) is None
    assert services.repository.find(stuck, include_trashed=True).deleted_at == PURGING, "kept, and never restored"

    monkeypatch.undo()
    assert purge_expired(services, now=later) == 1
    assert services.repository.find(stuck, include_trashed=True) is None


def test_an_image_restored_as_the_sweep_starts_is_skipped_and_the_sweep_goes_on(services, worker, monkeypatch):
    restored = seed(worker, "rescued.jpg", images.jpeg(color="gold"))
    expired = seed(worker, "expired.jpg", images.jpeg(color="plum"))
    services.repository.trash([restored])  # the older of the two in the trash, so listed first
    services.repository.trash([expired])
    expired_trash = services.repository.expired_trash

    def listed_then_one_restored(*args, **kwargs):
        listed = expired_trash(*args, **kwargs)
        services.repository.restore([restored])  # someone restores it between the list and the claim
        return listed

    monkeypatch.setattr(services.repository, "expired_trash", listed_then_one_restored)
    later = utcnow() + timedelta(days=services.settings.trash_retention_days, minutes=1)

    assert purge_expired(services, now=later) == 1
    assert services.repository.find(restored) is not None
    assert services.repository.find(expired, include_trashed=True) is None


def test_a_restore_and_a_purge_never_both_win(services, worker):
    image_id = seed(worker, "raced.jpg", images.jpeg(color="olive"))
    services.repository.trash([image_id])
    later = utcnow() + timedelta(days=services.settings.trash_retention_days, minutes=1)

    assert services.repository.begin_purge(image_id, later - timedelta(days=services.settings.trash_retention_days))
    assert services.repository.restore([image_id]) == [], "too late: its purge has begun"
    assert services.repository.find(image_id, include_trashed=True).deleted_at == PURGING

    assert purge_expired(services, now=utcnow()) == 1, "a purge stopped part-way is taken up by the next sweep"
    assert services.repository.find(image_id, include_trashed=True) is None

    kept = seed(worker, "kept.jpg", images.jpeg(color="teal"))
    services.repository.trash([kept])
    services.repository.restore([kept])
    assert purge_expired(services, now=later) == 0
    assert services.repository.find(kept) is not None


def test_a_job_running_when_its_image_is_trashed_finishes_and_is_not_purged_under_it(services, worker):
    image_id = seed(worker, "busy.jpg", images.jpeg(color="maroon"))
    lease = services.settings.job_lease_seconds
    services.repository.requeue(image_id, Job.CAPTION, lease)
    claim = services.repository.claim(image_id, Job.CAPTION, lease)  # a worker is writing its caption
    services.repository.trash([image_id])
    later = utcnow() + timedelta(days=services.settings.trash_retention_days, minutes=1)

    assert purge_expired(services, now=later) == 0, "a worker holds its caption job"
    assert services.repository.finish(claim, {"caption": "Done."})
    assert purge_expired(services, now=later) == 1


def test_bulk_regenerate_queues_captions_of_the_callers_images_and_names_busy_ones(client_as, services, worker):
    member = client_as("member")
    member_id = services.users.get_by_name("member").id
    first = seed(worker, "one.jpg", images.jpeg(color="red"), uploaded_by=member_id)
    busy = seed(worker, "two.jpg", images.jpeg(color="blue"), uploaded_by=member_id)
    others = seed(worker, "three.jpg", images.jpeg(color="green"))
    services.repository.requeue(busy, Job.CAPTION, 90)
    services.repository.claim(busy, Job.CAPTION, 90)  # a worker writes it right now

    response = post(member, "/api/images/caption", {"ids": [first, busy, others]})

    assert response.status_code == 202
    assert response.get_json() == {"images": [first], "busy": [busy]}
    assert worker.drain(timeout=30)
    assert services.repository.get(first).caption_attempts == 1
    assert services.repository.get(others).caption_status == "completed"


def test_the_detail_pages_delete_form_moves_to_the_trash_and_its_message_undoes_it(client, services, worker):
    image_id = seed(worker, "form.jpg", images.jpeg(color="purple"))
    token = csrf_token(client)

    page = client.post(f"/images/{image_id}/delete", data={"csrf_token": token}, follow_redirects=True)

    html = page.get_data(as_text=True)
    assert "Moved form.jpg to the trash." in html and f'action="/images/{image_id}/restore"' in html
    assert services.repository.find(image_id) is None
    back = client.post(f"/images/{image_id}/restore", data={"csrf_token": token})
    assert back.status_code == 302 and back.headers["Location"] == f"/images/{image_id}"
    assert services.repository.find(image_id) is not None
    assert client.post(f"/images/{image_id}/restore", data={"csrf_token": token}).status_code == 404


def test_a_photo_in_the_trash_cannot_be_edited_and_its_waiting_job_goes_on_when_it_is_restored(
    client, services, worker
):
    image_id = seed(worker, "paused.jpg", images.jpeg(color="silver"))
    services.repository.trash([image_id])
    with services.engine.begin() as conn:  # its caption was left pending when it went to the trash
        conn.exec_driver_sql(f"UPDATE images SET caption_status = 'pending' WHERE id = {image_id}")
    headers = {**JSON, "X-CSRFToken": csrf_token(client)}

    assert client.patch(f"/api/images/{image_id}", json={"caption": "Mine."}, headers=headers).status_code == 404
    assert services.repository.find(image_id, include_trashed=True).edited_caption is None

    assert post(client, "/api/images/restore", {"ids": [image_id]}).get_json() == {"images": [image_id]}
    assert worker.drain(timeout=30)
    assert services.repository.get(image_id).caption_status == "completed", "announced at once, not a sweep later"


def test_a_restore_announces_only_the_jobs_left_pending_not_finished_ones_or_retries_waiting_for_their_time(
    services, worker, monkeypatch
):
    finished = seed(worker, "finished.jpg", images.jpeg(color="gray"))
    paused = seed(worker, "paused-too.jpg", images.jpeg(color="white"))
    waiting = seed(worker, "waiting.jpg", images.jpeg(color="black"))
    later = utcnow() + timedelta(hours=1)
    with services.engine.begin() as conn:  # left pending, or waiting to retry, when they went to the trash
        conn.execute(table.update().where(table.c.id == paused).values(caption_status="pending"))
        pending_later = {"caption_status": "pending", "caption_next_attempt_at": later}
        conn.execute(table.update().where(table.c.id == waiting).values(pending_later))
    services.repository.trash([finished, paused, waiting])
    announced = []
    monkeypatch.setattr(services.announcer, "due", announced.extend)

    assert restore_from_trash(services, [finished, paused, waiting]) == [waiting, paused, finished]
    assert announced == [(paused, Job.CAPTION)]
