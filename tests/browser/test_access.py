"""What outsiders see: private communities do not exist for them; home lists public ones."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from communities.models import Role
from scripts.demo_pages import seed_community
from tests.browser.helpers import sign_in
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_private_pages_are_404_for_outsiders_and_open_for_members(new_page: Any) -> None:
    private = seed_community("secret-club", visibility="private")
    member = UserFactory()
    MembershipFactory(user=member, community=private, role=Role.MEMBER)
    outsider = UserFactory()

    anonymous = new_page()
    assert anonymous.goto("/c/secret-club/").status == 404
    assert anonymous.goto("/c/secret-club/overlay/").status == 404
    assert anonymous.goto("/api/communities/secret-club/tree").status == 404

    signed_in = new_page()
    sign_in(signed_in, outsider.username, "/")
    assert signed_in.goto("/c/secret-club/").status == 404

    insider = new_page()
    sign_in(insider, member.username, "/")
    assert insider.goto("/c/secret-club/").status == 200
    insider.wait_for_selector("body[data-ready='1']")
    expect(insider.locator(".badge", has_text="Private")).to_be_visible()


def test_the_home_page_lists_public_communities_only(page: Any) -> None:
    seed_community("open-house", name="Open House")
    seed_community("hidden-den", name="Hidden Den", visibility="private")
    page.goto("/")
    cards = page.locator(".community-card")
    expect(cards.filter(has_text="Open House")).to_have_count(1)
    expect(page.get_by_test_id("community-list")).not_to_contain_text("Hidden Den")
    expect(cards.filter(has_text="Open House")).to_contain_text("Now unlocking")
    cards.filter(has_text="Open House").click()
    page.wait_for_url("**/c/open-house/")
    expect(page.locator("h1")).to_have_text("Open House")
