"""How the app starts: the first admin (from ADMIN_PASSWORD, or made up and logged once), AUTH_MODE=public
only on loopback, and HTTPS behind a load balancer (secure cookies, HSTS, the client's own address)."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from annotation_core.accounts import UserRepository
from annotation_core.bootstrap import bootstrap
from annotation_core.errors import ConfigurationError
from annotation_core.records import Role
from annotation_core.schema import users
from annotation_core.settings import Settings
from conftest import FAST_HASHING
from tests import images
from tests.web_client import JSON, add_user, csrf_token, sign_in, upload
from web_app.app import create_app

MADE_UP = re.compile(r"Created the admin account 'admin' with the password (\S+) \(shown only this once\)")


def start(engine, tmp_path, **settings):
    app = create_app(services=bootstrap(Settings(data_dir=str(tmp_path), **FAST_HASHING, **settings), engine=engine))
    if app.extensions["local_worker"] is not None:
        app.extensions["local_worker"].stop()
    return app


def test_the_first_start_makes_up_an_admin_password_logs_it_once_and_stores_only_a_hash(engine, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="annotation_core.first_admin"):
        app = start(engine, tmp_path)
        start(engine, tmp_path)  # a restart (or a second web process) logs nothing new
    [password] = MADE_UP.findall(caplog.text)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and password not in stored

    browser = app.test_client()
    signed_in = browser.post(
        "/login", data={"username": "admin", "password": password, "csrf_token": csrf_token(browser)}
    )
    assert signed_in.headers["Location"] == "/settings", "a made-up password must be replaced"


def test_admin_password_creates_the_admin_and_sets_its_password_at_every_start(engine, tmp_path, caplog):
    start(engine, tmp_path, admin_password="first-password-1")
    app = start(engine, tmp_path, admin_password="second-password-2")
    assert "with the password" not in caplog.text
    sign_in(app.test_client(), "admin", "second-password-2")
    refused = app.test_client().post("/api/tokens", json={"name": "x"}, auth=("admin", "first-password-1"))
    assert refused.status_code == 401


def test_a_restart_with_the_same_admin_password_keeps_the_admin_signed_in(engine, tmp_path):
    app = start(engine, tmp_path, admin_password="admin-password-1")
    browser = sign_in(app.test_client(), "admin", "admin-password-1")

    again = start(engine, tmp_path, admin_password="admin-password-1").test_client()
    again.set_cookie("session", browser.get_cookie("session").value)

    assert again.get("/gallery").status_code == 200, "the password was not set again, so no session ended"


def test_admin_password_makes_a_demoted_or_disabled_admin_an_enabled_admin_again(engine, tmp_path):
    app = start(engine, tmp_path, admin_password="admin-password-1")
    add_user(app, "other", "admin")
    users = app.extensions["annotation"].users
    admin = users.get_by_name("admin")
    users.set_role(admin.id, "viewer")
    users.set_disabled(admin.id, True)

    app = start(engine, tmp_path, admin_password="admin-password-1")

    restored = app.extensions["annotation"].users.get(admin.id)
    assert (restored.role, restored.disabled) == ("admin", False)
    assert (users.get_by_name("other").role, users.get_by_name("other").disabled) == ("admin", False)
    assert sign_in(app.test_client(), "admin", "admin-password-1").get("/admin/users").status_code == 200


def test_an_admin_another_process_creates_at_the_same_moment_gets_the_admin_password(engine, tmp_path, monkeypatch):
    looked_up = UserRepository.find_by_name

    def created_by_the_other_process_right_after_this_one_looked(self, username):
        found = looked_up(self, username)
        if found is None and username == "admin":  # the other process stores its own (made-up) password
            UserRepository(engine).create("admin", "$argon2id$other", Role.ADMIN, must_change_password=True)
        return found

    monkeypatch.setattr(UserRepository, "find_by_name", created_by_the_other_process_right_after_this_one_looked)
    app = start(engine, tmp_path, admin_password="admin-password-1")
    monkeypatch.undo()

    assert [user.username for user in app.extensions["annotation"].users.all()] == ["admin"]
    sign_in(app.test_client(), "admin", "admin-password-1")


def test_an_invalid_admin_username_stops_start_up_saying_what_a_name_may_hold(engine, tmp_path):
    with pytest.raises(ConfigurationError) as refused:
        start(engine, tmp_path, admin_username="the admin")
    assert refused.value.message == (
        "ADMIN_USERNAME='the admin' is not valid: A user name has 1 to 64 letters, digits, dots, dashes, "
        "underscores or @, starting with a letter or digit."
    )


def test_a_short_admin_password_stops_start_up_naming_the_setting(engine, tmp_path):
    with pytest.raises(ConfigurationError, match="ADMIN_PASSWORD is not valid: A password must have 10"):
        start(engine, tmp_path, admin_password="short")


@pytest.mark.parametrize(
    ("bind_host", "proxies"), [("0.0.0.0", 0), ("192.168.1.20", 0), ("::", 0), ("myhost", 0), ("127.0.0.1", 1)]
)
def test_public_mode_is_refused_unless_only_this_machine_can_reach_the_app(engine, tmp_path, bind_host, proxies):
    with pytest.raises(ConfigurationError) as refused:
        start(engine, tmp_path, auth_mode="public", bind_host=bind_host, proxy_count=proxies)
    assert "AUTH_MODE=public lets every visitor act as an admin" in refused.value.message
    assert "AUTH_MODE=password" in refused.value.message
    if not proxies:
        assert f"BIND_HOST={bind_host} can be reached from other machines" in refused.value.message


@pytest.mark.parametrize("bind_host", ["127.0.0.1", "localhost", "::1", "[::1]"])
def test_public_mode_on_loopback_needs_no_sign_in(engine, tmp_path, bind_host):
    app = start(engine, tmp_path, auth_mode="public", bind_host=bind_host)
    laptop = app.test_client()

    stored = upload(laptop, (images.jpeg(), "laptop.jpg"))

    assert stored.status_code == 202
    image_id = stored.get_json()["images"][0]["id"]
    assert app.extensions["annotation"].repository.get(image_id).uploaded_by is None
    assert laptop.get(f"/api/images/{image_id}").get_json()["original_url"].startswith("/media/images/")
    assert laptop.get("/login").headers["Location"] == "/"
    assert "Public mode" in laptop.get("/").get_data(as_text=True)
    settings = laptop.get("/api/tokens", headers=JSON)
    assert settings.status_code == 403 and "AUTH_MODE=public has no accounts" in settings.get_json()["error"]
    with app.app_context():
        assert app.extensions["annotation"].users.all() == [], "no admin account is made in public mode"


def test_behind_an_https_load_balancer_cookies_are_secure_with_hsts_and_the_clients_address_counts(engine, tmp_path):
    app = start(
        engine,
        tmp_path,
        admin_password="admin-password",
        https_only=True,
        proxy_count=1,
        login_max_failures_per_address=2,
    )
    add_user(app, "alice", "member")
    through_alb = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    browser = app.test_client()
    page = browser.get("/login", headers=through_alb)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"username": "alice", "password": "alice-password", "csrf_token": token}
    referer = {"Referer": "https://localhost/login"}  # Flask-WTF checks it over HTTPS

    signed_in = browser.post("/login", data=form, headers={**through_alb, **referer}, base_url="https://localhost")

    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    assert "Secure" in signed_in.headers["Set-Cookie"]

    def fail_from(address: str) -> int:
        other = app.test_client()
        other.get("/login", headers={**through_alb, "X-Forwarded-For": address})
        bad = {**form, "username": "nobody", "password": "a-guess", "csrf_token": csrf_token(other)}
        headers = {**through_alb, **referer, "X-Forwarded-For": address}
        return other.post("/login", data=bad, headers=headers, base_url="https://localhost").status_code

    assert [fail_from("198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert fail_from("198.51.100.2") == 401, "another client behind the same load balancer is not blocked"
