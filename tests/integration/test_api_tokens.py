"""API tokens: made with a password (Basic) or a session, shown once, stored hashed, acting as their user
without CSRF; revoked ones are refused. And what a viewer can never be handed: an original's link."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from annotation_core.schema import api_tokens
from annotation_core.settings import Settings
from tests import images
from tests.web_client import JSON, add_user, csrf_token, seed, upload


def bearer(token: str) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {token}"}


def test_a_script_gets_a_token_with_its_password_and_then_uses_it(app, anonymous, services):
    add_user(app, "alice", "member")

    created = anonymous.post("/api/tokens", json={"name": "backup script"}, auth=("alice", "alice-password"))

    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    document = created.get_json()
    assert set(document) == {"id", "name", "token", "created_at"} and document["name"] == "backup script"
    token = document["token"]
    stored = services.engine.connect().execute(sa.select(api_tokens.c.token_hash)).scalars().all()
    assert token not in str(stored) and len(stored) == 1 and len(stored[0]) == 64, "only a SHA-256 is kept"

    photo = upload(anonymous, (images.jpeg(), "scripted.jpg"), headers=bearer(token), token=False)
    assert photo.status_code == 202, "no CSRF token needed with a bearer token"
    image_id = photo.get_json()["images"][0]["id"]
    assert services.repository.get(image_id).uploaded_by == services.users.get_by_name("alice").id
    listed = anonymous.get("/api/tokens", headers=bearer(token)).get_json()["tokens"]
    assert [(t["id"], t["name"]) for t in listed] == [(document["id"], "backup script")]
    assert "token" not in listed[0] and listed[0]["last_used_at"] is not None


def test_a_revoked_token_is_refused_with_a_challenge(app, anonymous, services):
    user_id = add_user(app, "alice", "member")
    created = services.tokens.create(user_id, "old laptop")
    assert anonymous.get("/api/images", headers=bearer(created.secret)).status_code == 200

    revoked = anonymous.delete(f"/api/tokens/{created.token.id}", headers=bearer(created.secret))

    assert revoked.status_code == 204
    refused = anonymous.get("/api/images", headers=bearer(created.secret))
    assert refused.status_code == 401
    assert refused.headers.getlist("WWW-Authenticate") == ['Bearer realm="Image Annotation"']
    assert "error" in refused.get_json()


def test_a_user_can_revoke_only_their_own_tokens(app, anonymous, services):
    alice, bob = add_user(app, "alice", "member"), add_user(app, "bob", "member")
    alices = services.tokens.create(alice, "alice's")
    bobs = services.tokens.create(bob, "bob's")
    response = anonymous.delete(f"/api/tokens/{alices.token.id}", headers=bearer(bobs.secret))
    assert response.status_code == 404
    assert anonymous.get("/api/images", headers=bearer(alices.secret)).status_code == 200


def test_basic_credentials_are_taken_on_the_token_routes_only(app, anonymous):
    add_user(app, "alice", "member")
    refused = anonymous.get("/api/images", auth=("alice", "alice-password"))
    assert refused.status_code == 401
    assert refused.headers.getlist("WWW-Authenticate") == ['Bearer realm="Image Annotation"']
    challenge = anonymous.get("/api/tokens").headers.getlist("WWW-Authenticate")
    assert challenge == ['Bearer realm="Image Annotation"', 'Basic realm="Image Annotation", charset="UTF-8"']


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": 5}, ["name"]])
def test_a_token_needs_a_name(app, anonymous, body):
    add_user(app, "alice", "member")
    response = anonymous.post("/api/tokens", json=body, auth=("alice", "alice-password"))
    assert response.status_code == 400 and "name" in response.get_json()["error"]


def test_a_token_name_may_have_1_to_100_characters_around_which_spaces_are_dropped(app, anonymous):
    add_user(app, "alice", "member")
    for name, kept in [("  x  ", "x"), ("n" * 100, "n" * 100)]:
        created = anonymous.post("/api/tokens", json={"name": name}, auth=("alice", "alice-password"))
        assert created.status_code == 201 and created.get_json()["name"] == kept
    for name in ["   ", "n" * 101]:
        refused = anonymous.post("/api/tokens", json={"name": name}, auth=("alice", "alice-password"))
        assert refused.status_code == 400
        assert refused.get_json()["error"] == "A token needs a name of 1 to 100 characters (say where it will be used)."


def test_tokens_are_256_random_bits_listed_newest_first_with_the_time_they_were_made(app, anonymous):
    add_user(app, "alice", "member")
    made = [
        anonymous.post("/api/tokens", json={"name": name}, auth=("alice", "alice-password")).get_json()
        for name in ("first", "second")
    ]
    assert all(re.fullmatch(r"iat_[A-Za-z0-9_-]{43}", document["token"]) for document in made)

    listed = anonymous.get("/api/tokens", headers=bearer(made[0]["token"])).get_json()["tokens"]

    assert [(t["name"], t["created_at"]) for t in listed] == [(d["name"], d["created_at"]) for d in reversed(made)]
    assert made[0]["created_at"] is not None


def test_the_last_use_is_written_at_most_once_a_minute(app, anonymous, services):
    user_id = add_user(app, "alice", "member")
    created = services.tokens.create(user_id, "poller")

    def last_used_at():
        with services.engine.connect() as conn:
            return conn.execute(sa.select(api_tokens.c.last_used_at)).scalar_one()

    anonymous.get("/api/images", headers=bearer(created.secret))
    first = last_used_at()
    assert first is not None
    anonymous.get("/api/images", headers=bearer(created.secret))
    assert last_used_at() == first, "not written again within the minute"

    with services.engine.begin() as conn:
        conn.execute(api_tokens.update().values(last_used_at=first - timedelta(minutes=2)))
    anonymous.get("/api/images", headers=bearer(created.secret))
    assert last_used_at() >= first, "written again once the minute is over"


def test_cookie_sessions_still_need_csrf_but_tokens_do_not(client, services, worker):
    image_id = seed(worker, "kept.jpg", images.jpeg())
    refused = client.delete(f"/api/images/{image_id}", headers=JSON)
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]
    created = client.post("/api/tokens", json={"name": "from the browser"}, headers=JSON)
    assert created.status_code == 400, "a session creating a token needs CSRF too"

    token = client.post("/api/tokens", json={"name": "from the browser"}, headers={"X-CSRFToken": csrf_token(client)})
    assert token.status_code == 201
    deleted = client.delete(f"/api/images/{image_id}", headers=bearer(token.get_json()["token"]))
    assert deleted.status_code == 204


def test_the_settings_page_shows_a_new_token_once_and_revokes_it(client, services):
    page = client.post("/settings/tokens", data={"name": "camera", "csrf_token": csrf_token(client)})
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    [token] = services.tokens.of_user(services.users.get_by_name("admin").id)
    secret = html.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert secret.startswith("iat_") and token.name == "camera"
    assert secret not in client.get("/settings").get_data(as_text=True), "shown once"

    client.post(f"/settings/tokens/{token.id}/revoke", data={"csrf_token": csrf_token(client)})

    assert client.get("/api/images", headers=bearer(secret)).status_code == 401


@pytest.fixture
def settings(settings) -> Settings:
    return dataclasses.replace(settings, uploads_per_hour=2)


def test_uploads_are_limited_per_user_per_hour(client_as, services):
    member = client_as("member")
    for n in range(2):
        assert upload(member, (images.jpeg(color=(n, 9, 9)), f"{n}.jpg")).status_code == 202

    refused = upload(member, (images.jpeg(color="red"), "third.jpg"))

    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.get_json()["error"].startswith("You may upload 2 images an hour and have uploaded 2")
    assert len(services.repository.page()) == 2
    other = client_as("member", "another-member")
    assert upload(other, (images.jpeg(color="red"), "third.jpg")).status_code == 202, "each user has their own"


def test_a_viewer_is_never_handed_a_link_to_an_original(client_as, services, worker):
    image_id = seed(worker, "private.jpg", images.jpeg())
    key = services.repository.get(image_id).original_key
    viewer = client_as("viewer")
    member = client_as("member")
    documents = [
        f"/api/images/{image_id}",
        f"/api/image_status/{image_id}",
        f"/api/image_status?ids={image_id}",
        "/api/images",
        f"/api/images?q=private&status={services.repository.get(image_id).status}",
    ]
    for path in documents:
        seen = viewer.get(path)
        assert seen.status_code == 200 and key not in seen.get_data(as_text=True), path
        assert key in member.get(path).get_data(as_text=True), path  # members do get it
    for page in ("/", "/gallery", f"/images/{image_id}"):
        assert key not in viewer.get(page).get_data(as_text=True), page
    assert viewer.get(f"/api/images/{image_id}").get_json()["original_url"] is None
    assert viewer.get(f"/media/images/{key}").status_code == 403
