"""The moderator console in a real browser: live vote controls seen by a second browser,
relock with its dependents listed, and refusal for anyone without the role."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from communities.models import Role
from scripts.demo_pages import seed_community
from tests.browser.helpers import sign_in
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def open_console(page: Any, username: str, slug: str) -> None:
    sign_in(page, username, f"/c/{slug}/manage/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)


def test_a_moderator_closes_the_vote_and_a_second_browser_sees_it(new_page: Any) -> None:
    community = seed_community("vote-room", open_vote=True)
    moderator = MembershipFactory(community=community, role=Role.MODERATOR).user
    console = new_page()
    open_console(console, moderator.username, community.slug)
    overlay = new_page(1920, 1080)
    overlay.goto(f"/c/{community.slug}/overlay/")
    overlay.wait_for_selector(".ov-root[data-stream='open']", timeout=20_000)
    expect(overlay.locator("#ov-vote")).to_be_visible()
    expect(console.get_by_test_id("vote-status")).to_have_text("Open")

    console.get_by_role("button", name="Close now").click()

    expect(console.get_by_test_id("vote-status")).to_have_text("No vote", timeout=10_000)
    expect(overlay.locator("#ov-vote")).to_be_hidden(timeout=10_000)
    expect(console.get_by_role("button", name="Start a vote")).to_be_enabled()


def test_freeze_and_unfreeze_show_live_state(new_page: Any) -> None:
    community = seed_community("freeze-room", open_vote=True)
    moderator = MembershipFactory(community=community, role=Role.MODERATOR).user
    console = new_page()
    open_console(console, moderator.username, community.slug)

    console.get_by_role("button", name="Freeze", exact=True).click()
    expect(console.get_by_test_id("vote-status")).to_have_text("Frozen")
    expect(console.get_by_role("button", name="Freeze", exact=True)).to_be_disabled()
    console.get_by_role("button", name="Unfreeze").click()
    expect(console.get_by_test_id("vote-status")).to_have_text("Open")


def test_relock_asks_first_and_lists_the_nodes_that_depend_on_it(new_page: Any) -> None:
    community = seed_community("relock-room")
    owner = MembershipFactory(community=community, role=Role.OWNER).user
    console = new_page()
    open_console(console, owner.username, community.slug)
    tree = console.evaluate(f"PH.api('/api/communities/{community.slug}/tree')")["nodes"]
    parent, child = next(
        (parent, child)
        for parent in tree
        if parent["tier"] == 0 and parent["state"] != "target"
        for child in tree
        if child["prerequisites"] == [{"key": parent["key"], "level": 1}]
        and not child["count_rules"]
    )
    for node in (parent, child):
        console.get_by_role("button", name=f"Force-unlock {node['name']}").click()
        expect(console.locator("#confirm")).to_be_visible()
        console.locator("#confirm-ok").click()
        expect(console.locator("#confirm-error")).to_have_text("")
        expect(console.locator("#confirm")).to_be_hidden()
        expect(console.locator(f"tr[data-key='{node['key']}']")).to_contain_text("1 / ")

    console.get_by_role("button", name=f"Relock {parent['name']}").click()

    dialog = console.locator("#confirm")
    expect(dialog).to_contain_text(child["name"])  # the dependent is named before anything
    expect(dialog.get_by_label("Also relock the nodes that depend on it")).to_be_checked()
    console.locator("#confirm-ok").click()
    expect(dialog).to_be_hidden()
    expect(console.locator(f"tr[data-key='{parent['key']}']")).to_contain_text("0 / ")
    expect(console.locator(f"tr[data-key='{child['key']}']")).to_contain_text("0 / ")


def test_the_console_is_refused_to_anyone_without_the_role(new_page: Any) -> None:
    public = seed_community("open-console")
    private = seed_community("closed-console", visibility="private")
    member = MembershipFactory(community=public, role=Role.MEMBER).user
    outsider = UserFactory()

    anonymous = new_page()
    anonymous.goto("/c/open-console/manage/")
    anonymous.wait_for_url("**/accounts/login/?next=/c/open-console/manage/")
    assert anonymous.goto("/c/closed-console/manage/").status == 404

    viewer = new_page()
    sign_in(viewer, member.username, "/")
    assert viewer.goto("/c/open-console/manage/").status == 403

    stranger = new_page()
    sign_in(stranger, outsider.username, "/")
    assert stranger.goto("/c/closed-console/manage/").status == 404
    assert stranger.goto(f"/c/{private.slug}/overlay/").status == 404
