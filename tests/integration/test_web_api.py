"""The JSON API through Flask's test client, on SQLite and MySQL: list, search, filter, page, read, retry, delete."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from annotation_core.records import Job, JobState
from annotation_core.settings import Settings
from tests import images
from tests.web_client import JSON, csrf_token, seed
from web_app.listing import MAX_LIMIT, encode_cursor

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def settings(gemini_settings) -> Settings:
    return gemini_settings


def seed_many(worker, count: int) -> list[int]:
    return [seed(worker, f"photo-{n}.jpg", images.jpeg(color=(n * 40 % 256, 80, 120))) for n in range(count)]


def listing(client, query: str = "") -> dict:
    response = client.get(f"/api/images{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_list_is_newest_first_and_pages_by_cursor_to_the_end(client, services, worker):
    ids = seed_many(worker, 5)

    first = listing(client, "?limit=2")
    second = listing(client, f"?limit=2&cursor={first['next_cursor']}")
    last = listing(client, f"?limit=2&cursor={second['next_cursor']}")

    pages = [[image["id"] for image in page["images"]] for page in (first, second, last)]
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    assert last["next_cursor"] is None
    assert first["images"][0]["status"] == "completed"
    assert first["images"][0]["detail_url"] == f"/images/{ids[4]}"


def test_cursor_pages_stay_stable_while_new_images_arrive(client, services, worker):
    ids = seed_many(worker, 3)
    first = listing(client, "?limit=2")

    newer = seed(worker, "arrived-meanwhile.jpg", images.jpeg(color="purple"))
    second = listing(client, f"?limit=2&cursor={first['next_cursor']}")

    assert [image["id"] for image in second["images"]] == [ids[0]]
    assert listing(client, "?limit=1")["images"][0]["id"] == newer


def test_search_matches_caption_words_and_file_name_prefixes(client, services, fake_gemini, worker):
    lighthouse = seed(worker, "coast.jpg", images.jpeg(color="white"), fake_gemini, "A lighthouse above the waves.")
    market = seed(worker, "market-day.png", images.image_bytes("PNG", color="orange"), fake_gemini, "Fruit stalls.")

    assert [image["id"] for image in listing(client, "?q=lighthouse")["images"]] == [lighthouse]
    assert [image["id"] for image in listing(client, "?q=Fruit")["images"]] == [market]
    assert [image["id"] for image in listing(client, "?q=mark")["images"]] == [market]
    assert listing(client, "?q=bicycle")["images"] == []


def test_status_filter_uses_the_overall_state(client, services, worker):
    # The states are set with the repository's own verbs. A one-off refusal queued at the fake Gemini goes to
    # whichever caption request comes first, and a retry of an earlier image's caption (after any transient
    # answer, on a busy machine) once came first: the wrong image failed.
    done = seed(worker, "fine.jpg", images.jpeg(color="green"))
    failed = seed(worker, "refused.jpg", images.jpeg(color="gray"))
    waiting = seed(worker, "waiting.jpg", images.jpeg(color="navy"))
    repository, lease = services.repository, services.settings.job_lease_seconds
    assert repository.requeue(failed, Job.CAPTION, lease)
    assert repository.fail(repository.claim(failed, Job.CAPTION, lease), "Gemini refused the request.")
    assert repository.requeue(waiting, Job.CAPTION, lease)  # announced to no one: it stays pending

    def found(status: str) -> list[int]:
        return [image["id"] for image in listing(client, f"?status={status}")["images"]]

    assert found("failed") == [failed]
    assert found("completed") == [done]
    assert found("processing") == found("pending") == [waiting]


@pytest.mark.parametrize(
    ("query", "phrase"),
    [
        ("?status=done", "status must be one of pending, processing, completed, failed"),
        ("?limit=0", "limit must be a whole number from 1 to 100"),
        (f"?limit={MAX_LIMIT + 1}", "limit must be a whole number from 1 to 100"),
        ("?limit=ten", "limit must be a whole number"),
        ("?cursor=not-a-cursor", "cursor is not valid"),
        ("?cursor=" + base64.urlsafe_b64encode(b"after:3").decode(), "cursor is not valid"),
    ],
)
def test_bad_list_parameters_are_refused_with_400(client, query, phrase):
    response = client.get(f"/api/images{query}")
    assert response.status_code == 400
    assert phrase in response.get_json()["error"]


def test_one_image_and_unknown_ids(client, services, worker):
    image_id = seed(worker, "one.jpg", images.jpeg((80, 60)))

    image = client.get(f"/api/images/{image_id}").get_json()

    assert (image["id"], image["filename"], image["width"], image["height"]) == (image_id, "one.jpg", 80, 60)
    assert image == client.get(f"/api/image_status/{image_id}").get_json()
    assert client.get("/api/images/999").status_code == 404
    assert client.get("/api/images/999").get_json() == {"error": "No image has id 999."}


def test_delete_removes_row_original_and_thumbnail_then_404(client, services, worker):
    image_id = seed(worker, "gone.jpg", images.jpeg())
    record = services.repository.get(image_id)
    assert services.originals.exists(record.original_key) and services.thumbnails.exists(record.thumbnail_key)

    response = client.delete(f"/api/images/{image_id}", headers={**JSON, "X-CSRFToken": csrf_token(client)})

    assert response.status_code == 204
    assert not services.originals.exists(record.original_key)
    assert not services.thumbnails.exists(record.thumbnail_key)
    assert client.get(f"/api/images/{image_id}").status_code == 404
    again = client.delete(f"/api/images/{image_id}", headers={"X-CSRFToken": csrf_token(client)})
    assert again.status_code == 404


def test_retry_puts_a_failed_caption_back_and_it_is_processed_again(client, services, fake_gemini, worker):
    fake_gemini.respond_with(403)
    image_id = seed(worker, "retry.jpg", images.jpeg())
    assert client.get(f"/api/images/{image_id}").get_json()["caption_status"] == "failed"

    response = client.post(f"/api/images/{image_id}/retry", headers={"X-CSRFToken": csrf_token(client)})

    assert response.status_code == 202
    assert response.get_json()["retried"] == ["caption"]
    assert response.get_json()["image"]["caption_status"] in ("pending", "processing", "completed")
    assert worker.drain(timeout=30)
    image = client.get(f"/api/images/{image_id}").get_json()
    assert (image["caption_status"], image["caption_attempts"], image["caption"]) == (
        "completed",
        1,  # a user's retry counts the attempts afresh
        fake_gemini.caption,
    )
    assert image["caption_error"] is None


def test_a_waiting_job_says_so_and_retry_makes_it_due_now(client, services, fake_gemini, worker):
    fake_gemini.respond_with(503, headers={"retry-after": "60"})  # overloaded for a minute
    image_id = seed(worker, "busy.jpg", images.jpeg())
    image = client.get(f"/api/images/{image_id}").get_json()
    assert (image["status"], image["caption_status"]) == ("processing", "pending")
    assert image["caption_state_text"] == "waiting to retry (attempt 2 of 5)"
    assert image["caption_error"].startswith("Gemini is unavailable (503")
    assert image["caption_next_attempt_at"].endswith("Z") and image["max_attempts"] == 5

    response = client.post(f"/api/images/{image_id}/retry", headers={"X-CSRFToken": csrf_token(client)})

    assert response.get_json()["retried"] == ["caption"]
    assert worker.drain(timeout=30)
    image = client.get(f"/api/images/{image_id}").get_json()
    assert (image["caption_status"], image["caption_state_text"], image["caption_next_attempt_at"]) == (
        "completed",
        "completed",
        None,
    )


def test_retry_many_retries_the_failed_jobs_of_the_given_images_or_of_all(client, services, fake_gemini, worker):
    fake_gemini.respond_with(403)
    first = seed(worker, "first.jpg", images.jpeg(color="red"))
    fake_gemini.respond_with(403)
    second = seed(worker, "second.jpg", images.jpeg(color="blue"))
    fine = seed(worker, "fine.jpg", images.jpeg(color="green"))
    token = {"X-CSRFToken": csrf_token(client)}

    chosen = client.post("/api/images/retry", json={"ids": [first, fine]}, headers=token)
    assert chosen.status_code == 202
    assert chosen.get_json() == {"images": [first], "jobs": {"thumbnail": 0, "caption": 1}}
    assert worker.drain(timeout=30)
    assert client.get(f"/api/images/{second}").get_json()["caption_status"] == "failed", "only the chosen ones"

    everything = client.post("/api/images/retry", headers=token)
    assert everything.get_json() == {"images": [second], "jobs": {"thumbnail": 0, "caption": 1}}
    assert worker.drain(timeout=30)
    assert [client.get(f"/api/images/{i}").get_json()["status"] for i in (first, second, fine)] == ["completed"] * 3


@pytest.mark.parametrize(
    "body",
    [{"ids": []}, {"ids": "1,2"}, {"ids": [1, "2"]}, {"ids": [0]}, {"ids": [2**63]}, {"ids": list(range(1, 102))}, [1]],
    ids=["empty", "text", "mixed", "zero", "too-big", "too-many", "list"],
)
def test_retry_many_refuses_bad_bodies(client, body):
    response = client.post("/api/images/retry", json=body, headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 400
    assert "ids" in response.get_json()["error"] or "JSON object" in response.get_json()["error"]


def test_retry_of_an_unknown_image_is_404(client):
    response = client.post("/api/images/999/retry", headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 404
    assert response.get_json() == {"error": "No image has id 999."}


def test_cursor_is_opaque_but_round_trips(client, services, worker):
    ids = seed_many(worker, 2)
    assert str(ids[1]) not in encode_cursor(ids[1])
    assert [image["id"] for image in listing(client, f"?cursor={encode_cursor(ids[1])}")["images"]] == [ids[0]]


def test_openapi_describes_every_api_route_with_its_methods(app, client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")

    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule in ("/upload", "/health", "/ready"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    documented = {
        path: {method.upper() for method in operations if method != "parameters"}
        for path, operations in spec["paths"].items()
    }
    assert documented == served
    states = spec["components"]["schemas"]["JobState"]["enum"]
    assert states == [state.value for state in JobState]
    limit = next(p for p in spec["paths"]["/api/images"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == MAX_LIMIT


def test_openapi_image_schema_lists_exactly_the_fields_the_api_returns(client, worker):
    image_id = seed(worker, "fields.jpg", images.jpeg())
    returned = set(client.get(f"/api/images/{image_id}").get_json())
    documented = set(client.get("/api/openapi.json").get_json()["components"]["schemas"]["Image"]["properties"])
    assert returned == documented


def test_readme_documents_every_route(app):
    section = README.read_text().split("## HTTP interface", 1)[1].split("\n## ", 1)[0]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "<id>" if m[1] == "image_id" else f"<{m[1]}>", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert f"`{method} {path}`" in section, f"README's HTTP interface lacks `{method} {path}`"


def test_status_of_several_images_in_one_request(client, services, worker):
    ids = seed_many(worker, 3)

    response = client.get(f"/api/image_status?ids={ids[0]},{ids[2]},999999")

    assert response.status_code == 200
    images = response.get_json()["images"]
    assert [image["id"] for image in images] == [ids[2], ids[0]]  # newest first; the unknown id left out
    assert images[0] == client.get(f"/api/image_status/{ids[2]}").get_json()


@pytest.mark.parametrize("ids", ["", "1,x", "-1", ",".join(["1"] * 101)])
def test_status_of_several_images_refuses_bad_ids(client, ids):
    response = client.get(f"/api/image_status?ids={ids}")
    assert response.status_code == 400
    assert "ids must be" in response.get_json()["error"]
