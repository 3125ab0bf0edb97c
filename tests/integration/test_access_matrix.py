"""Every route, tried without credentials, with a revoked token and with each role, against a table of who
may do what written here (not read from the app): allowed callers get past the gate, others get 401 (or
the sign-in page) and 403."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import images
from tests.web_client import JSON, add_user, csrf_token, seed
from web_app.permissions import ROUTES

OPENAPI = Path(__file__).resolve().parents[2] / "web_app" / "static" / "openapi.json"

# Who may: "anyone"; "viewer" (every role); "member" (members and admins); "owner" (the member who
# uploaded the image, and admins); "admin".
RULES: list[tuple[str, str, str, str]] = [  # method, rule, who may, the path to try
    ("GET", "/health", "anyone", "/health"),
    ("GET", "/ready", "anyone", "/ready"),
    ("GET", "/api/openapi.json", "anyone", "/api/openapi.json"),
    ("GET", "/login", "anyone", "/login"),
    ("POST", "/login", "anyone", "/login"),
    ("POST", "/logout", "anyone", "/logout"),
    ("GET", "/static/<path:filename>", "anyone", "/static/style.css"),
    ("GET", "/", "viewer", "/"),
    ("GET", "/gallery", "viewer", "/gallery"),
    ("GET", "/images/<int:image_id>", "viewer", "/images/{image}"),
    ("GET", "/api/images", "viewer", "/api/images"),
    ("GET", "/api/images/<int:image_id>", "viewer", "/api/images/{image}"),
    ("GET", "/api/image_status/<int:image_id>", "viewer", "/api/image_status/{image}"),
    ("GET", "/api/image_status", "viewer", "/api/image_status?ids={image}"),
    ("GET", "/media/<bucket>/<path:key>", "viewer", "/media/thumbnails/{thumbnail_key}"),
    ("GET", "/media/<bucket>/<path:key>", "member", "/media/images/{original_key}"),
    ("GET", "/settings", "viewer", "/settings"),
    ("POST", "/settings/password", "viewer", "/settings/password"),
    ("POST", "/settings/tokens", "viewer", "/settings/tokens"),
    ("POST", "/settings/tokens/<int:token_id>/revoke", "viewer", "/settings/tokens/999999/revoke"),
    ("GET", "/api/tokens", "viewer", "/api/tokens"),
    ("POST", "/api/tokens", "viewer", "/api/tokens"),
    ("DELETE", "/api/tokens/<int:token_id>", "viewer", "/api/tokens/999999"),
    ("POST", "/upload", "member", "/upload"),
    ("POST", "/api/images/retry", "member", "/api/images/retry"),
    ("POST", "/images/retry-failed", "member", "/images/retry-failed"),
    ("POST", "/api/images/delete", "member", "/api/images/delete"),
    ("POST", "/api/images/restore", "member", "/api/images/restore"),
    ("POST", "/api/images/caption", "member", "/api/images/caption"),
    ("POST", "/api/images/<int:image_id>/retry", "owner", "/api/images/{image}/retry"),
    ("POST", "/images/<int:image_id>/retry", "owner", "/images/{image}/retry"),
    ("DELETE", "/api/images/<int:image_id>", "owner", "/api/images/{image}"),
    ("POST", "/images/<int:image_id>/delete", "owner", "/images/{image}/delete"),
    ("POST", "/images/<int:image_id>/restore", "owner", "/images/{image}/restore"),
    ("PATCH", "/api/images/<int:image_id>", "owner", "/api/images/{image}"),
    ("POST", "/api/images/<int:image_id>/caption", "owner", "/api/images/{image}/caption"),
    ("POST", "/images/<int:image_id>/edit", "owner", "/images/{image}/edit"),
    ("POST", "/images/<int:image_id>/caption", "owner", "/images/{image}/caption"),
    ("GET", "/admin/users", "admin", "/admin/users"),
    ("POST", "/admin/users", "admin", "/admin/users"),
    ("POST", "/admin/users/<int:user_id>/role", "admin", "/admin/users/{target}/role"),
    ("POST", "/admin/users/<int:user_id>/disable", "admin", "/admin/users/{target}/disable"),
    ("POST", "/admin/users/<int:user_id>/enable", "admin", "/admin/users/{target}/enable"),
    ("POST", "/admin/users/<int:user_id>/password", "admin", "/admin/users/{target}/password"),
]
ALLOWED = {
    "anyone": {"anonymous", "revoked token", "viewer", "member", "owner", "admin"},
    "viewer": {"viewer", "member", "owner", "admin"},
    "member": {"member", "owner", "admin"},
    "owner": {"owner", "admin"},
    "admin": {"admin"},
}
# Refused callers first: an allowed one may delete the image the next one would be refused.
CALLERS = ["anonymous", "revoked token", "viewer", "member", "owner", "admin"]


@dataclass
class World:
    tokens: dict[str, str]
    values: dict[str, object]


@pytest.fixture
def world(app, services, worker) -> World:
    """One image uploaded by "owner", a spare account to administer, and a token per role (one revoked)."""
    ids = {role: add_user(app, role, role.replace("owner", "member")) for role in ("viewer", "member", "owner")}
    ids["admin"] = services.users.get_by_name("admin").id
    target = add_user(app, "target", "viewer")
    image = seed(worker, "owned.jpg", images.jpeg(), uploaded_by=ids["owner"])
    record = services.repository.get(image)
    tokens = {role: services.tokens.create(user_id, "matrix").secret for role, user_id in ids.items()}
    revoked = services.tokens.create(ids["admin"], "revoked")
    services.tokens.revoke(ids["admin"], revoked.token.id)
    tokens["revoked token"] = revoked.secret
    values = {
        "image": image,
        "target": target,
        "thumbnail_key": record.thumbnail_key,
        "original_key": record.original_key,
    }
    return World(tokens, values)


def is_api(path: str) -> bool:
    return path.startswith(("/api/", "/upload", "/media/"))


def request(app, world: World, caller: str, method: str, path: str):
    client = app.test_client()
    headers = dict(JSON) if is_api(path) else {}
    if caller == "anonymous":
        headers["X-CSRFToken"] = csrf_token(client)  # so a refusal is about who, not about CSRF
    else:
        headers["Authorization"] = f"Bearer {world.tokens[caller]}"
    body = {"json": {"name": "tried"}} if path == "/api/tokens" and method == "POST" else {}
    return client.open(path.format(**world.values), method=method, headers=headers, **body)


@pytest.mark.parametrize(("method", "rule", "who", "path"), RULES, ids=[f"{m} {p}" for m, _r, _w, p in RULES])
def test_each_caller_gets_what_the_table_says(app, world, method, rule, who, path):
    for caller in CALLERS:
        with request(app, world, caller, method, path) as response:
            status, location = response.status_code, response.headers.get("Location", "")
            challenged = response.headers.getlist("WWW-Authenticate")
            body = response.get_json(silent=True)
        seen = f"{caller}: {method} {path} -> {status} {location} {body}"
        if caller in ALLOWED[who]:
            assert status != 403 and not challenged and not location.startswith("/login?next="), seen
        elif caller in ("anonymous", "revoked token"):
            if is_api(path):
                assert status == 401 and any(c.startswith("Bearer ") for c in challenged), seen
                assert "error" in body, seen
            else:
                assert status == 302 and location.startswith("/login?next="), seen
        else:
            assert status == 403, seen
            if is_api(path):
                assert "may" in body["error"], seen


def test_the_apps_permission_table_names_every_endpoint_and_no_other(app):
    assert {rule.endpoint for rule in app.url_map.iter_rules()} == set(ROUTES)


def test_a_route_missing_from_the_permission_table_is_refused_to_everyone(app, services):
    app.add_url_rule("/unlisted", "unlisted", lambda: "secret")
    admin = services.tokens.create(services.users.get_by_name("admin").id, "test").secret
    response = app.test_client().get("/unlisted", headers={**JSON, "Authorization": f"Bearer {admin}"})
    assert response.status_code == 403 and "no access rule" in response.get_json()["error"]


def test_the_table_lists_every_route_and_every_documented_operation(app):
    tried = {(method, rule) for method, rule, _who, _path in RULES}
    served = {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == tried
    documented = json.loads(OPENAPI.read_text())["paths"]
    for path, operations in documented.items():
        for method in set(operations) - {"parameters"}:
            flask_rule = path.replace("{image_id}", "<int:image_id>").replace("{token_id}", "<int:token_id>")
            assert (method.upper(), flask_rule) in tried, (method, path)


@pytest.fixture
def settings(gemini_settings):
    """Captions from the fake Gemini, so a test can make them fail."""
    return gemini_settings


def test_a_members_bulk_retry_touches_only_their_own_images(app, services, worker, client_as, fake_gemini):
    member = client_as("member")
    member_id = services.users.get_by_name("member").id
    fake_gemini.respond_with(403)
    theirs = seed(worker, "theirs.jpg", images.jpeg(color="red"), uploaded_by=member_id)
    fake_gemini.respond_with(403)
    nobodys = seed(worker, "old.jpg", images.jpeg(color="blue"))

    response = member.post("/api/images/retry", headers={"X-CSRFToken": csrf_token(member)})

    assert response.status_code == 202
    assert response.get_json()["images"] == [theirs]
    assert services.repository.get(nobodys).caption_status == "failed"


def test_images_from_before_accounts_may_be_changed_by_admins_only(client, client_as, services, worker):
    old = seed(worker, "old.jpg", images.jpeg())
    member = client_as("member")

    refused = member.delete(f"/api/images/{old}", headers={"X-CSRFToken": csrf_token(member)})

    assert refused.status_code == 403
    assert refused.get_json() == {"error": "Only an admin may change images uploaded before accounts existed."}
    assert client.delete(f"/api/images/{old}", headers={"X-CSRFToken": csrf_token(client)}).status_code == 204
