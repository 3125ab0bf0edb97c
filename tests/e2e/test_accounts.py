"""Accounts in Chromium: sign in and come back, an admin invites a viewer who picks a password and sees no
originals, tokens shown once, sign out."""

from __future__ import annotations

import re

import pytest

from conftest import ADMIN_PASSWORD
from tests.e2e.browser import expect, sign_in
from tests.e2e.photos import landscape

pytestmark = pytest.mark.browser
STATUS_401 = "Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"


def test_a_page_asks_to_sign_in_and_comes_back_after(anonymous_page, console):
    page = anonymous_page
    page.goto("/gallery?status=completed")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/gallery\?status=completed$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flash")).to_have_text("You are signed out.")
    assert console.errors == [STATUS_401]  # the wrong password's answer


def test_an_invited_viewer_chooses_a_password_and_sees_no_originals(page, browser, live_server, console):
    image_id = live_server.add_image("summit.jpg", landscape(50))
    page.goto("/admin/users")
    page.get_by_label("User name", exact=True).fill("vera")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add user").click()
    made_up = page.locator("#handed-over-password").inner_text()
    expect(page.locator('tr[data-username="vera"]')).to_contain_text("new password due")

    context = browser.new_context(base_url=live_server.url)
    viewer = context.new_page()
    try:
        sign_in(viewer, "vera", made_up)
        expect(viewer).to_have_url(re.compile(r"/settings$"))
        viewer.get_by_label("Current password").fill(made_up)
        viewer.get_by_label("New password (at least 10 characters)").fill("veras-own-password")
        viewer.get_by_label("New password again").fill("veras-own-password")
        viewer.get_by_role("button", name="Change password").click()
        expect(viewer.locator(".flash-success")).to_contain_text("Your password is changed")

        viewer.goto("/")
        expect(viewer.get_by_role("link", name="Latest")).to_be_visible()
        expect(viewer.get_by_text("Choose photos…")).to_have_count(0)
        viewer.goto(f"/images/{image_id}")
        expect(viewer.locator(".original img")).to_have_attribute("src", re.compile(r"^/media/thumbnails/"))
        assert viewer.locator('a[href*="/media/images/"], img[src*="/media/images/"]').count() == 0
        expect(viewer.get_by_role("button", name="Move to trash")).to_have_count(0)
    finally:
        context.close()
    assert console.errors == []


def test_a_token_is_shown_once_and_can_be_revoked(page, live_server, console):
    page.goto("/settings")
    page.get_by_label("Name (where it will be used)").fill("photo frame")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("iat_")
    answer = page.request.get("/api/images", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200

    page.goto("/settings")
    expect(page.locator("#new-token")).to_have_count(0)
    row = page.locator("#tokens tr", has_text="photo frame")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash-success")).to_contain_text("The token is revoked")
    refused = page.request.get("/api/images", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401
    assert console.errors == []
