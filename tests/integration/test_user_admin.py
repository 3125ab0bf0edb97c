"""Administering users on the admin page and with `flask users …`: add, change role, disable, enable,
reset a password; the last admin stays."""

from __future__ import annotations

import html
import re

from tests.web_client import PageMarkup, add_user, csrf_token, sign_in

HANDED_OVER = re.compile(r'id="handed-over-password">([^<]+)<')


def form(client, **fields) -> dict[str, str]:
    return {**fields, "csrf_token": csrf_token(client)}


def test_an_admin_adds_a_user_with_a_made_up_password_shown_once(app, client, services):
    page = client.post("/admin/users", data=form(client, username="erin", role="viewer", password=""))

    assert page.status_code == 201 and page.headers["Cache-Control"] == "no-store"
    [password] = HANDED_OVER.findall(page.get_data(as_text=True))
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", password), "20 characters to copy, 120 random bits"
    assert not HANDED_OVER.search(client.get("/admin/users").get_data(as_text=True)), "shown once"
    erin = services.users.get_by_name("erin")
    assert (erin.role, erin.must_change_password) == ("viewer", True)
    browser = app.test_client()
    answer = browser.post("/login", data={"username": "erin", "password": password, "csrf_token": csrf_token(browser)})
    assert answer.headers["Location"] == "/settings"


def test_an_admin_adds_a_user_with_a_chosen_password(app, client, services):
    client.post("/admin/users", data=form(client, username="frank", role="member", password="franks-password"))
    assert services.users.get_by_name("frank").must_change_password is False
    assert sign_in(app.test_client(), "frank", "franks-password").get("/gallery").status_code == 200


def test_bad_new_users_are_refused_with_a_message(app, client):
    add_user(app, "taken", "viewer")
    for fields, message in [
        ({"username": "taken", "role": "viewer"}, "The user name &#39;taken&#39; is taken."),
        ({"username": "bad name", "role": "viewer"}, "A user name has 1 to 64 letters"),
        ({"username": "gina", "role": "owner"}, "The role must be one of admin, member, viewer"),
        ({"username": "gina", "role": "member", "password": "short"}, "A password must have 10 to 256 characters."),
    ]:
        page = client.post("/admin/users", data=form(client, **fields), follow_redirects=True)
        assert message in page.get_data(as_text=True), fields


def test_a_password_may_have_10_to_256_characters(app, client, services):
    for name, length in [("ten", 10), ("long", 256)]:
        password = "p" * length
        client.post("/admin/users", data=form(client, username=name, role="viewer", password=password))
        sign_in(app.test_client(), name, password)
    for name, length in [("nine", 9), ("too-long", 257)]:
        fields = form(client, username=name, role="viewer", password="p" * length)
        page = client.post("/admin/users", data=fields, follow_redirects=True)
        assert "A password must have 10 to 256 characters." in page.get_data(as_text=True)
        assert services.users.find_by_name(name) is None


def test_passwords_are_stored_as_argon2id_hashes_of_the_configured_cost(app, services, settings):
    user_id = add_user(app, "nora", "member")
    stored = services.users.password_hash(user_id)
    expected = f"$argon2id$v=19$m={settings.password_hash_memory_kib},t={settings.password_hash_time_cost},p="
    assert stored.startswith(expected), stored
    assert "nora-password" not in stored


def test_role_changes_take_effect_on_the_next_request(app, client, services):
    user_id = add_user(app, "hank", "member")
    hank = sign_in(app.test_client(), "hank", "hank-password")
    assert "Choose photos" in hank.get("/").get_data(as_text=True)

    client.post(f"/admin/users/{user_id}/role", data=form(client, role="viewer"))

    assert services.users.get(user_id).role == "viewer"
    assert "Choose photos" not in hank.get("/").get_data(as_text=True)
    assert hank.post("/upload", headers={"Accept": "application/json"}).status_code == 403


def test_disable_then_enable(app, client, services):
    user_id = add_user(app, "ivy", "member")
    client.post(f"/admin/users/{user_id}/disable", data=form(client))
    page = client.get("/admin/users").get_data(as_text=True)
    assert re.search(r'data-username="ivy">.*?disabled.*?Enable', page, re.S)
    client.post(f"/admin/users/{user_id}/enable", data=form(client))
    assert sign_in(app.test_client(), "ivy", "ivy-password").get("/").status_code == 200


def test_reset_password_signs_the_user_out_and_hands_over_a_new_one(app, client, services):
    user_id = add_user(app, "jay", "member")
    jay = sign_in(app.test_client(), "jay", "jay-password")

    page = client.post(f"/admin/users/{user_id}/password", data=form(client))

    [password] = HANDED_OVER.findall(page.get_data(as_text=True))
    assert jay.get("/gallery").status_code == 302
    browser = app.test_client()
    answer = browser.post("/login", data={"username": "jay", "password": password, "csrf_token": csrf_token(browser)})
    assert answer.headers["Location"] == "/settings"


def test_the_last_admin_cannot_be_demoted_or_disabled(app, client, services):
    admin_id = services.users.get_by_name("admin").id
    page = client.post(f"/admin/users/{admin_id}/role", data=form(client, role="viewer"), follow_redirects=True)
    assert "You cannot have yourself demoted" in page.get_data(as_text=True)
    other = add_user(app, "kim", "admin")
    kim = sign_in(app.test_client(), "kim", "kim-password")
    kim.post(f"/admin/users/{admin_id}/disable", data=form(kim))
    assert services.users.get(admin_id).disabled is True, "with another admin left, it may"
    page = kim.post(f"/admin/users/{other}/disable", data=form(kim), follow_redirects=True)
    assert "You cannot have yourself disabled" in page.get_data(as_text=True)


def test_the_users_page_needs_no_inline_script_or_style(client):
    parser = PageMarkup()
    parser.feed(client.get("/admin/users").get_data(as_text=True))
    parser.feed(client.get("/settings").get_data(as_text=True))
    parser.feed(client.get("/login").get_data(as_text=True))
    assert parser.styled == [] and parser.handlers == [] and all(s.get("src") for s in parser.scripts)


def test_the_users_command_manages_accounts_for_scripts(app, services):
    runner = app.test_cli_runner()

    created = runner.invoke(args=["users", "create", "lee", "--role", "viewer"])
    assert created.exit_code == 0, created.output
    password = re.search(r"password: (\S+)", created.output).group(1)
    assert services.users.get_by_name("lee").must_change_password
    chosen = runner.invoke(args=["users", "create", "max", "--password-stdin"], input="maxs-password\n")
    assert chosen.exit_code == 0 and "password:" not in chosen.output
    sign_in(app.test_client(), "max", "maxs-password")

    assert runner.invoke(args=["users", "set-role", "lee", "member"]).exit_code == 0
    assert services.users.get_by_name("lee").role == "member"
    assert runner.invoke(args=["users", "disable", "lee"]).exit_code == 0
    listed = runner.invoke(args=["users", "list"]).output
    assert "lee\tmember\tdisabled" in listed and "max\tmember\tactive" in listed
    assert runner.invoke(args=["users", "enable", "lee"]).exit_code == 0
    reset = runner.invoke(args=["users", "reset-password", "lee"])
    assert re.search(r"password of lee: (\S+)", reset.output).group(1) != password

    unknown = runner.invoke(args=["users", "disable", "nobody"])
    assert unknown.exit_code == 1 and "No user is called 'nobody'." in unknown.output
    last = runner.invoke(args=["users", "set-role", "admin", "viewer"])
    assert last.exit_code == 1 and "admin is the last admin and cannot be demoted." in last.output


def test_sessions_ended_by_disabling_stay_ended_after_enabling(app, client):
    user_id = add_user(app, "ivy", "member")
    ivy = sign_in(app.test_client(), "ivy", "ivy-password")

    client.post(f"/admin/users/{user_id}/disable", data=form(client))
    client.post(f"/admin/users/{user_id}/enable", data=form(client))

    assert ivy.get("/gallery").status_code == 302, "signed out: the enabled account signs in afresh"
    assert sign_in(app.test_client(), "ivy", "ivy-password").get("/gallery").status_code == 200


def test_a_disabled_admin_does_not_count_as_another_admin(app, services):
    other = add_user(app, "kim", "admin")
    services.users.set_disabled(other, True)
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["users", "set-role", "admin", "viewer"])

    assert refused.exit_code == 1 and "admin is the last admin and cannot be demoted." in refused.output
    assert runner.invoke(args=["users", "disable", "admin"]).exit_code == 1
    assert services.users.get_by_name("admin").role == "admin"


def test_users_are_listed_by_name_and_unknown_ones_are_named_in_the_refusal(app, client, services):
    for name in ("zoe", "amy", "max"):
        add_user(app, name, "viewer")
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["users", "list"]).output.splitlines()
    page = client.post("/admin/users/999/role", data=form(client, role="viewer"), follow_redirects=True)
    amy = services.users.get_by_name("amy").id
    long_role = client.post(f"/admin/users/{amy}/role", data=form(client, role="superuser-of-everything-here"))

    assert [line.split("\t")[0] for line in listed] == ["admin", "amy", "max", "zoe"]
    assert "No user has id 999." in page.get_data(as_text=True)
    shown = html.unescape(client.get(long_role.headers["Location"]).get_data(as_text=True))
    assert "The role must be one of admin, member, viewer (got 'superuser-of-everyth')." in shown


def test_a_session_once_ended_never_comes_back_whatever_happens_to_the_account_later(app, client):
    user_id = add_user(app, "olga", "member")
    phone = sign_in(app.test_client(), "olga", "olga-password")  # say, stolen
    client.post(f"/admin/users/{user_id}/disable", data=form(client))
    client.post(f"/admin/users/{user_id}/enable", data=form(client))
    laptop = sign_in(app.test_client(), "olga", "olga-password")

    for old, new in [("olga-password", "olgas-second-pass"), ("olgas-second-pass", "olgas-third-pass")]:
        fields = form(laptop, current_password=old, new_password=new, repeat_password=new)
        assert laptop.post("/settings/password", data=fields).status_code == 302
        assert phone.get("/gallery").status_code == 302, "each change moves the account on, never back"
    assert laptop.get("/gallery").status_code == 200
