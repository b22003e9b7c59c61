"""Viewers in a real browser: voting by clicking, and the sign up → sign in → vote → sign out
round trip, all through the pages a viewer sees."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from scripts.demo_pages import seed_community
from tests.browser.helpers import open_dashboard, sign_in
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_signed_in_viewer_votes_by_clicking_and_sees_their_choice_and_the_count(
    new_page: Any,
) -> None:
    community = seed_community("click-vote", open_vote=True)
    page = new_page()
    user = UserFactory()
    sign_in(page, user.username, f"/c/{community.slug}/")
    open_dashboard(page, community.slug)
    options = page.locator(".vote-option")
    expect(options.first).to_be_visible()
    labels = options.locator(".vote-num").all_inner_texts()
    assert labels == [str(n) for n in range(1, len(labels) + 1)]  # numbered once: "1", not "1. 1."
    second = options.nth(1)
    second.get_by_role("button", name="Vote for option 2").click()
    expect(second.get_by_role("button")).to_have_text("Your vote")
    expect(second.locator("[data-testid=vote-count]")).to_have_text("1 · 100%", timeout=10_000)
    expect(page.locator("#vote-feedback")).to_contain_text("is counted")
    # Every other button is now disabled, with the reason.
    expect(options.nth(0).get_by_role("button")).to_be_disabled()
    expect(page.locator("#vote-meta")).to_contain_text("You voted in this vote")

    # Reload: the choice stays marked; and on another device (a fresh browser context) too.
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    expect(options.nth(1).get_by_role("button")).to_have_text("Your vote")
    phone = new_page(390, 844)
    sign_in(phone, user.username, f"/c/{community.slug}/")
    open_dashboard(phone, community.slug)
    expect(phone.locator(".vote-option").nth(1).get_by_role("button")).to_have_text("Your vote")
    expect(phone.locator(".vote-option").nth(0).get_by_role("button")).to_be_disabled()


def test_an_anonymous_viewer_is_told_how_to_vote_and_sees_no_vote_buttons(page: Any) -> None:
    community = seed_community("anon-vote", open_vote=True)
    open_dashboard(page, community.slug)
    expect(page.locator(".vote-option").first).to_be_visible()
    expect(page.locator(".vote-option button")).to_have_count(0)
    expect(page.get_by_test_id("vote")).to_contain_text("Sign in")
    expect(page.get_by_test_id("vote")).to_contain_text("!vote")


def test_sign_up_then_sign_in_vote_and_sign_out(page: Any) -> None:
    community = seed_community("round-trip", open_vote=True)
    dashboard = f"/c/{community.slug}/"
    page.goto(dashboard)
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Username").fill("newviewer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"**{dashboard}")  # back where they came from
    expect(page.get_by_test_id("signed-in-as")).to_have_text("newviewer")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()

    page.goto(dashboard)
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Username").fill("newviewer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{dashboard}")
    open_dashboard(page, community.slug)
    page.locator(".vote-option").first.get_by_role("button").click()
    expect(page.locator(".vote-option").first.get_by_role("button")).to_have_text("Your vote")
    expect(page.locator(".vote-option [data-testid=vote-count]").first).to_have_text(
        "1 · 100%", timeout=10_000
    )

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_count(0)
    page.goto(dashboard)
    expect(page.locator(".vote-option button")).to_have_count(0)


def test_a_weak_password_is_refused_with_the_reason(page: Any) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("weak")
    page.get_by_label("Password", exact=True).fill("12345678")
    page.get_by_label("Password confirmation").fill("12345678")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator(".errorlist")).to_contain_text("too common")
