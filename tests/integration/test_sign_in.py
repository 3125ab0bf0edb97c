"""Signing in and out through the real forms: where it leads, how long it lasts, password changes, lockout."""

from __future__ import annotations

import dataclasses
import time

import pytest

from annotation_core.settings import Settings
from tests.web_client import JSON, PageMarkup, add_user, csrf_token, sign_in


@pytest.fixture
def settings(settings) -> Settings:
    return dataclasses.replace(settings, login_max_failures=3, login_max_failures_per_address=5)


def try_sign_in(client, username: str, password: str, **extra):
    data = {"username": username, "password": password, "csrf_token": csrf_token(client), **extra}
    return client.post("/login", data=data)


def test_a_page_asks_to_sign_in_then_comes_back(app, anonymous):
    add_user(app, "alice", "member")

    asked = anonymous.get("/gallery?q=boat")
    assert asked.status_code == 302 and asked.headers["Location"] == "/login?next=/gallery?q%3Dboat"
    form = anonymous.get(asked.headers["Location"]).get_data(as_text=True)
    assert PageMarkup.hidden_fields(form)["next"] == "/gallery?q=boat"

    signed_in = try_sign_in(anonymous, "alice", "alice-password", next="/gallery?q=boat")

    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/gallery?q=boat"
    assert anonymous.get("/gallery").status_code == 200


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "gallery"]
)
def test_only_a_path_on_this_site_is_followed_after_signing_in(app, anonymous, target):
    add_user(app, "alice", "member")
    response = try_sign_in(anonymous, "alice", "alice-password", next=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(app, anonymous):
    add_user(app, "alice", "member")
    wrong = try_sign_in(anonymous, "alice", "not-her-password")
    unknown = try_sign_in(anonymous, "mallory", "whatever-password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong user name or password." in response.get_data(as_text=True)
    assert anonymous.get("/").status_code == 302, "still signed out"


def test_signing_out_ends_the_session(client):
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    assert client.get("/api/images").status_code == 401


def test_a_request_still_in_flight_at_sign_out_does_not_sign_the_browser_back_in(app, client):
    # A page's requests sent before "Sign out" may be answered after it: none may set the old session again.
    client.get("/gallery")  # the page the browser is on (its CSRF token is in the session from here on)
    old_cookie = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    in_flight = app.test_client()
    in_flight.set_cookie("session", old_cookie)
    for path in ("/static/style.css", "/api/images", "/gallery"):
        with in_flight.get(path) as answer:
            assert answer.status_code == 200
            assert not any(cookie.startswith("session=") for cookie in answer.headers.getlist("Set-Cookie")), path


def test_signing_out_needs_the_csrf_token(client):
    assert client.post("/logout").status_code == 400  # a forged page cannot sign you out
    assert client.get("/").status_code == 200


def test_a_session_expires_after_session_hours(client, settings):
    with client.session_transaction() as session:
        session["signed_in_at"] -= settings.session_hours * 3600 + 1
    assert client.get("/").status_code == 302
    assert client.get("/api/images").status_code == 401


def test_changing_the_password_ends_other_sessions_but_not_this_one(app):
    add_user(app, "alice", "member")
    laptop = sign_in(app.test_client(), "alice", "alice-password")
    phone = sign_in(app.test_client(), "alice", "alice-password")

    changed = laptop.post(
        "/settings/password",
        data={
            "current_password": "alice-password",
            "new_password": "a-new-long-password",
            "repeat_password": "a-new-long-password",
            "csrf_token": csrf_token(laptop),
        },
    )

    assert changed.status_code == 302
    assert laptop.get("/gallery").status_code == 200
    assert phone.get("/gallery").status_code == 302, "the other session has ended"
    assert try_sign_in(app.test_client(), "alice", "alice-password").status_code == 401
    assert try_sign_in(app.test_client(), "alice", "a-new-long-password").status_code == 302


def test_a_password_change_needs_the_current_password(app, services):
    add_user(app, "alice", "member")
    alice = sign_in(app.test_client(), "alice", "alice-password")
    refused = alice.post(
        "/settings/password",
        data={
            "current_password": "a-guess",
            "new_password": "a-new-long-password",
            "repeat_password": "a-new-long-password",
            "csrf_token": csrf_token(alice),
        },
        follow_redirects=True,
    )
    assert "The current password is wrong." in refused.get_data(as_text=True)
    assert try_sign_in(app.test_client(), "alice", "alice-password").status_code == 302


def test_an_account_is_locked_after_repeated_failures_even_for_the_right_password(app, anonymous, settings):
    add_user(app, "alice", "member")
    add_user(app, "bob", "member")
    for _ in range(settings.login_max_failures):
        assert try_sign_in(anonymous, "alice", "a-guess").status_code == 401

    locked = try_sign_in(anonymous, "alice", "alice-password")

    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= settings.login_lockout_minutes * 60
    assert "Too many failed sign-ins: try again in 15 minutes." in locked.get_data(as_text=True)
    assert try_sign_in(app.test_client(), "bob", "bob-password").status_code == 302, "others are not locked"


@pytest.mark.parametrize(("lockout_minutes", "told"), [(1, "1 minute"), (120, "120 minutes")])
def test_the_lockout_message_counts_the_whole_minutes_left(app, services, anonymous, lockout_minutes, told):
    app.extensions["annotation"] = dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, login_lockout_minutes=lockout_minutes)
    )
    add_user(app, "alice", "member")
    for _ in range(3):
        try_sign_in(anonymous, "alice", "a-guess")

    locked = anonymous.get("/api/tokens", headers=JSON, auth=("alice", "alice-password"))

    assert locked.status_code == 429
    assert locked.get_json()["error"] == f"Too many failed sign-ins: try again in {told}."


def test_scripts_are_told_exactly_why_their_credentials_were_refused(app, services, anonymous):
    user_id = add_user(app, "alice", "member")
    for username, password in [("alice", "a-guess"), ("mallory", "whatever-password"), ("", "")]:
        refused = anonymous.get("/api/tokens", headers=JSON, auth=(username, password))
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "Wrong user name or password.", username
    services.users.set_disabled(user_id, True)

    disabled = anonymous.get("/api/tokens", headers=JSON, auth=("alice", "alice-password"))

    assert disabled.status_code == 401
    assert disabled.get_json()["error"] == "This account is disabled: ask an admin to enable it."


def test_one_address_is_refused_after_failures_across_accounts(app, anonymous, settings):
    add_user(app, "carol", "member")
    for n in range(settings.login_max_failures_per_address):
        assert try_sign_in(anonymous, f"guess-{n}", "a-guess").status_code == 401
    assert try_sign_in(anonymous, "carol", "carol-password").status_code == 429


def test_the_lockout_ends_after_its_window(app, services, anonymous):
    app.extensions["annotation"] = dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, login_lockout_minutes=0.01)
    )
    add_user(app, "alice", "member")
    for _ in range(3):
        try_sign_in(anonymous, "alice", "a-guess")
    assert try_sign_in(anonymous, "alice", "alice-password").status_code == 429
    time.sleep(0.7)
    assert try_sign_in(anonymous, "alice", "alice-password").status_code == 302


def test_basic_credentials_count_towards_the_lockout(app, anonymous, settings):
    add_user(app, "alice", "member")
    for _ in range(settings.login_max_failures):
        assert anonymous.get("/api/tokens", auth=("alice", "a-guess")).status_code == 401
    refused = anonymous.get("/api/tokens", auth=("alice", "alice-password"))
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_a_disabled_account_is_signed_out_everywhere_and_cannot_sign_in(app, services, client):
    user_id = add_user(app, "alice", "member")
    alice = sign_in(app.test_client(), "alice", "alice-password")
    token = services.tokens.create(user_id, "script").secret

    client.post(f"/admin/users/{user_id}/disable", data={"csrf_token": csrf_token(client)})

    assert alice.get("/gallery").status_code == 302
    assert app.test_client().get("/api/images", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    refused = try_sign_in(app.test_client(), "alice", "alice-password")
    assert refused.status_code == 401 and "disabled" in refused.get_data(as_text=True)


def test_a_made_up_password_must_be_changed_before_anything_else(app, services):
    add_user(app, "dora", "member", must_change=True)
    dora = app.test_client()

    response = try_sign_in(dora, "dora", "dora-password")

    assert response.headers["Location"] == "/settings"
    assert dora.get("/gallery").headers["Location"] == "/settings"
    assert dora.get("/api/images", headers=JSON).status_code == 403
    dora.post(
        "/settings/password",
        data={
            "current_password": "dora-password",
            "new_password": "doras-own-password",
            "repeat_password": "doras-own-password",
            "csrf_token": csrf_token(dora),
        },
    )
    assert dora.get("/gallery").status_code == 200
    assert services.users.get_by_name("dora").must_change_password is False


def test_the_session_cookie_is_httponly_and_lax_and_secure_with_https_only(app, anonymous):
    add_user(app, "alice", "member")
    response = try_sign_in(anonymous, "alice", "alice-password")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Strict-Transport-Security" not in response.headers
