"""People's edits, regenerating and backfilling captions, and searching all of it, through the web app with
its worker and the fake Gemini: a model never overwrites what a person wrote."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from annotation_core.caption_backfill import count_stale_captions, current_provenance, stale_captions
from annotation_core.records import Job
from annotation_core.schema import images as table
from annotation_core.settings import Settings
from tests import images
from tests.web_client import JSON, csrf_token, seed


@pytest.fixture
def settings(gemini_settings) -> Settings:
    return gemini_settings


def document(client, image_id: int) -> dict:
    return client.get(f"/api/images/{image_id}").get_json()


def patch(client, image_id: int, body) -> object:
    return client.patch(f"/api/images/{image_id}", json=body, headers={"X-CSRFToken": csrf_token(client)})


def search(client, words: str) -> list[int]:
    return [image["id"] for image in client.get("/api/images", query_string={"q": words}).get_json()["images"]]


def captioned(worker, fake_gemini, name="dog.jpg", caption="A brown dog on a lawn.", tags=("dog", "lawn")):
    """A new image (its bytes differ by name: the same bytes twice are one image) captioned as given."""
    fake_gemini.alt_text, fake_gemini.tags = "Brown dog on a lawn", list(tags)
    color = tuple(sum(map(ord, name)) * factor % 256 for factor in (3, 5, 7))
    return seed(worker, name, images.jpeg(color=color), fake_gemini, caption)


def test_an_edit_is_shown_marked_and_searched_beside_the_model_s_suggestion(client, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)

    response = patch(client, image_id, {"caption": "Rex, our terrier, after his bath.", "tags": ["Rex", "Terrier"]})

    assert response.status_code == 200
    image = response.get_json()
    assert image["caption"] == "Rex, our terrier, after his bath."
    assert image["tags"] == ["rex", "terrier"]
    assert image["alt_text"] == "Brown dog on a lawn", "fields not edited stay the model's"
    assert image["edited"] == ["caption", "tags"] and image["edited_at"].endswith("Z")
    assert image["suggestion"]["caption"] == "A brown dog on a lawn."
    assert image["suggestion"]["tags"] == ["dog", "lawn"]
    assert search(client, "terrier") == [image_id], "an edited word is found"
    assert search(client, "rex") == [image_id], "an edited tag is found"
    assert search(client, "lawn") == [image_id], "the model's words are still found"


def test_null_goes_back_to_the_model_s_answer(client, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)
    patch(client, image_id, {"caption": "Mine.", "alt_text": "Mine too", "tags": []})
    assert document(client, image_id)["tags"] == [], "an empty list means no tags"

    image = patch(client, image_id, {"caption": None, "tags": None}).get_json()

    assert (image["caption"], image["tags"], image["alt_text"]) == (
        "A brown dog on a lawn.",
        ["dog", "lawn"],
        "Mine too",
    )
    assert image["edited"] == ["alt_text"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Send a JSON object with any of caption, alt_text, tags (null: the model's)."),
        ([], "Send a JSON object with any of caption, alt_text, tags (null: the model's)."),
        (
            {"caption": "x", "filename": "evil.jpg", "status": "completed"},
            "These fields cannot be edited: filename, status; send caption, alt_text, tags.",
        ),
        ({"caption": "   "}, "caption must be text (or null to use the model's)."),
        ({"caption": 5}, "caption must be text (or null to use the model's)."),
        ({"alt_text": ["A", "dog"]}, "alt_text must be text (or null to use the model's)."),
        ({"caption": "x" * 2001}, "caption is 2001 characters; at most 2000 fit."),
        ({"alt_text": "y" * 126}, "alt_text is 126 characters; at most 125 fit."),
        ({"tags": "dog, cat"}, "tags must be a list of words or short phrases (or null to use the model's)."),
        ({"tags": [f"t{n}" for n in range(11)]}, "At most 10 tags; 11 were sent."),
        ({"tags": ["z" * 61]}, "Each tag may be at most 60 characters."),
    ],
    ids=lambda value: str(value)[:30],
)
def test_edits_that_cannot_be_stored_are_refused_and_change_nothing(client, worker, fake_gemini, body, message):
    image_id = captioned(worker, fake_gemini)
    before = document(client, image_id)

    response = patch(client, image_id, body)

    assert response.status_code == 400
    assert response.get_json()["error"] == message
    assert document(client, image_id) == before


def test_edits_at_each_limit_are_stored(client, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)
    edit = {"caption": "c" * 2000, "alt_text": "a" * 125, "tags": [f"tag{n}" for n in range(9)] + ["t" * 60]}

    response = patch(client, image_id, edit)

    assert response.status_code == 200, response.get_json()
    image = response.get_json()
    assert (image["caption"], image["alt_text"], image["tags"]) == (edit["caption"], edit["alt_text"], edit["tags"])


def test_alt_text_is_kept_on_one_line_and_a_caption_keeps_its_lines(client, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)
    # 129 characters as typed, 125 once its runs of spaces and its line break are single spaces: it fits
    alt = "Rex,  our terrier,\n   after his bath " + "x" * 92

    image = patch(client, image_id, {"caption": "  Rex after his bath.\n\nHe hated it.  ", "alt_text": alt}).get_json()

    assert image["alt_text"] == "Rex, our terrier, after his bath " + "x" * 92
    assert image["caption"] == "Rex after his bath.\n\nHe hated it."


def test_an_image_in_the_trash_cannot_be_edited(client, services, worker, fake_gemini):
    from annotation_core.caption_edits import save_edit
    from annotation_core.errors import ImageNotFoundError
    from annotation_core.trash import move_to_trash

    image_id = captioned(worker, fake_gemini)
    assert move_to_trash(services, [image_id]) == [image_id]

    with pytest.raises(ImageNotFoundError, match=f"^No image has id {image_id}\\.$"):
        save_edit(services.repository, image_id, {"caption": "Edited in the trash."})
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(table.c.edited_caption).where(table.c.id == image_id)).scalar_one() is None


def test_editing_an_unknown_image_is_404(client):
    assert patch(client, 999, {"caption": "x"}).status_code == 404


def test_an_edited_caption_survives_regeneration_and_the_new_suggestion_shows(client, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)
    patch(client, image_id, {"caption": "Rex after his bath."})
    fake_gemini.caption = "A wet dog shakes off water."

    response = client.post(f"/api/images/{image_id}/caption", headers={"X-CSRFToken": csrf_token(client)})

    assert response.status_code == 202
    assert worker.drain()
    image = document(client, image_id)
    assert image["caption"] == "Rex after his bath."
    assert image["suggestion"]["caption"] == "A wet dog shakes off water."
    assert image["caption_status"] == "completed"
    assert len(fake_gemini.requests) == 2


def test_regenerating_while_a_caption_is_being_written_is_409(client, services, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)
    services.repository.requeue(image_id, Job.CAPTION, 90)
    assert services.repository.claim(image_id, Job.CAPTION, 90) is not None  # a worker is on it now

    response = client.post(f"/api/images/{image_id}/caption", headers={"X-CSRFToken": csrf_token(client)})

    assert response.status_code == 409 and "right now" in response.get_json()["error"]


def test_the_detail_page_form_saves_edits_and_reverts_one_field(client, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)
    token = csrf_token(client)
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert 'name="caption"' in page and 'maxlength="125"' in page and "Regenerate caption" in page

    client.post(
        f"/images/{image_id}/edit",
        data={
            "csrf_token": token,
            "caption": "Rex on the lawn.",
            "alt_text": "Brown dog on a lawn",
            "tags": "rex, Dog",
        },
    )
    image = document(client, image_id)
    assert (image["caption"], image["tags"], image["edited"]) == (
        "Rex on the lawn.",
        ["rex", "dog"],
        ["caption", "tags"],
    )
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "Model's: A brown dog on a lawn." in page and "edited" in page

    client.post(f"/images/{image_id}/edit", data={"csrf_token": token, "caption": "ignored", "revert": "caption"})
    assert document(client, image_id)["caption"] == "A brown dog on a lawn."


def test_backfill_counts_then_recaptions_stale_images_keeping_edits(app, client, services, worker, fake_gemini):
    fresh = captioned(worker, fake_gemini, "fresh.jpg", "A fresh caption.")
    stale = captioned(worker, fake_gemini, "stale.jpg", "An old caption.")
    edited = captioned(worker, fake_gemini, "edited.jpg", "An old caption too.")
    patch(client, edited, {"caption": "Written by a person."})
    with services.engine.begin() as conn:  # written by another model, long ago
        conn.execute(sa.update(table).where(table.c.id.in_([stale, edited])).values(caption_model="gemini-1.5-flash"))
    fake_gemini.caption = "A caption from today's model."
    runner = app.test_cli_runner()

    counted = runner.invoke(args=["captions", "backfill", "--dry-run"])
    assert counted.exit_code == 0, counted.output
    assert counted.output.startswith("2 images to caption with gemini, gemini-3.5-flash-lite, en,")
    assert len(fake_gemini.requests) == 3, "a dry run asks nothing"

    done = runner.invoke(args=["captions", "backfill", "--concurrency", "1"])

    assert done.exit_code == 0, done.output
    assert worker.drain()
    assert {document(client, i)["suggestion"]["caption"] for i in (stale, edited)} == {"A caption from today's model."}
    assert document(client, edited)["caption"] == "Written by a person."
    assert document(client, fresh)["caption"] == "A fresh caption."
    assert runner.invoke(args=["captions", "backfill", "--dry-run"]).output.startswith("0 images")


def test_backfill_stops_at_its_limit_and_a_second_run_does_the_rest(app, services, worker, fake_gemini):
    ids = [captioned(worker, fake_gemini, f"{n}.jpg", f"Photo number {n}.") for n in range(3)]
    with services.engine.begin() as conn:  # captioned in French, before CAPTION_LANGUAGE became en
        conn.execute(sa.update(table).values(caption_language="fr"))
    runner = app.test_cli_runner()

    assert runner.invoke(args=["captions", "backfill", "--limit", "2"]).exit_code == 0
    assert worker.drain()
    assert runner.invoke(args=["captions", "backfill", "--dry-run"]).output.startswith("1 image to caption")
    assert runner.invoke(args=["captions", "backfill"]).exit_code == 0
    assert worker.drain()

    assert runner.invoke(args=["captions", "backfill", "--dry-run"]).output.startswith("0 images")
    assert [services.repository.get(image_id).caption_language for image_id in ids] == ["en"] * 3
    assert len(fake_gemini.requests) == 6, "each image captioned once more, none twice"


def stale_now(services) -> tuple[int, list[int]]:
    """What a backfill would count, and pick (no limit that matters), under the current settings."""
    current = current_provenance(services.settings)
    return count_stale_captions(services.repository, current), stale_captions(
        services.repository, current, limit=100, skip=set()
    )


def test_the_provenance_a_backfill_compares_follows_the_chosen_provider(services):
    openai = dataclasses.replace(services.settings, caption_provider="openai", openai_model="llava")
    assert current_provenance(openai)["caption_provider"] == "openai"
    assert current_provenance(openai)["caption_model"] == "llava"
    assert current_provenance(services.settings)["caption_model"] == services.settings.gemini_model_name


def test_backfill_picks_captions_written_before_provenance_was_recorded_and_failed_ones(services, worker, fake_gemini):
    fresh, legacy, failed = (captioned(worker, fake_gemini, f"{name}.jpg") for name in ("fresh", "legacy", "failed"))
    assert stale_now(services) == (0, [])
    with services.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == legacy).values(caption_prompt_version=None))
        conn.execute(sa.update(table).where(table.c.id == failed).values(caption_status="failed"))

    assert stale_now(services) == (2, [failed, legacy])


def test_backfill_picks_the_newest_first_up_to_its_limit_past_the_ones_it_started(services, worker, fake_gemini):
    ids = [captioned(worker, fake_gemini, f"{n}.jpg") for n in range(4)]
    with services.engine.begin() as conn:
        conn.execute(sa.update(table).values(caption_language="fr"))
    current = current_provenance(services.settings)

    assert stale_captions(services.repository, current, limit=2, skip=set()) == [ids[3], ids[2]]
    assert stale_captions(services.repository, current, limit=2, skip={ids[3]}) == [ids[2], ids[1]]


def test_backfill_leaves_a_caption_being_written_right_now(services, worker, fake_gemini):
    image_id = captioned(worker, fake_gemini)
    with services.engine.begin() as conn:
        conn.execute(sa.update(table).values(caption_language="fr"))
    services.repository.requeue(image_id, Job.CAPTION, 90)
    assert services.repository.claim(image_id, Job.CAPTION, 90) is not None  # a worker is on it now

    assert stale_captions(services.repository, current_provenance(services.settings), limit=10, skip=set()) == []


def test_json_errors_of_the_caption_routes(client):
    token = {"X-CSRFToken": csrf_token(client), **JSON}
    assert client.post("/api/images/999/caption", headers=token).status_code == 404
    assert client.patch("/api/images/999", json={"caption": "x"}).status_code == 400, "CSRF applies"
