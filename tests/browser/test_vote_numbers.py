"""The numbers of a vote's options, as chat types them (`!vote N`), on the dashboard and the OBS
overlay: 1..n when a vote opens; when a moderator's change withdraws an option mid-vote, the
others keep their numbers (a `!vote 3` typed a moment earlier still means what it named), and
both pages show exactly the numbers the API takes, with the commands spelled out."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from scripts.demo_pages import seed_community
from tests.browser.helpers import open_dashboard
from tests.factories import issue_token

pytestmark = pytest.mark.django_db(transaction=True)


def open_options(community: Any) -> list[tuple[int, str]]:
    from progression.services import voting

    session = voting.open_session(community.pk)
    assert session is not None
    return list(session.options.order_by("position").values_list("position", "node__name"))


def shown(page: Any) -> list[tuple[int, str]]:
    rows = page.locator(".vote-option").evaluate_all(
        "els => els.map(li => [li.querySelector('.vote-num').textContent,"
        " li.querySelector('.vote-name').firstChild.nextSibling.textContent])"
    )
    return [(int(n), name) for n, name in rows]


def overlay_shown(page: Any) -> list[str]:
    return page.locator("#ov-options .ov-cmd").all_inner_texts()


def test_a_new_vote_is_numbered_one_to_n_on_the_dashboard_and_the_overlay(new_page: Any) -> None:
    community = seed_community("numbers-new", open_vote=True)
    options = open_options(community)
    assert [p for p, _ in options] == list(range(1, len(options) + 1))
    page = new_page()
    open_dashboard(page, community.slug)
    expect(page.locator(".vote-option")).to_have_count(len(options))
    assert shown(page) == options
    commands = [f"!vote {p}" for p, _ in options]
    expect(page.locator("#vote-meta")).to_contain_text(
        "In chat, type " + ", ".join(commands[:-1]) + " or " + commands[-1]
    )
    expect(page.locator("#vote-meta")).not_to_contain_text("withdrawn")
    overlay = new_page(1920, 1080)
    overlay.goto(f"/c/{community.slug}/overlay/")
    expect(overlay.locator("#ov-options li")).to_have_count(len(options))
    assert overlay_shown(overlay) == commands


def test_a_withdrawn_option_leaves_the_others_their_numbers_everywhere(new_page: Any) -> None:
    from progression.models import Node
    from progression.services import admin_actions

    community = seed_community("numbers-gap", open_vote=True)
    before = open_options(community)
    assert len(before) >= 3, before
    page = new_page()
    open_dashboard(page, community.slug)
    overlay = new_page(1920, 1080)
    overlay.goto(f"/c/{community.slug}/overlay/")
    expect(overlay.locator("#ov-options li")).to_have_count(len(before))
    # A moderator unlocks option 2 by hand: it leaves the vote, live, on both pages.
    withdrawn_key = Node.objects.get(community=community, name=before[1][1]).key
    admin_actions.force_unlock(community, withdrawn_key, by="test")
    after = open_options(community)
    assert after == [before[0], *before[2:]]  # the same numbers, one missing
    expect(page.locator(".vote-option")).to_have_count(len(after))
    assert shown(page) == after
    expect(page.locator("#vote-meta")).to_contain_text("!vote 1, !vote 3")
    expect(page.locator("#vote-meta")).to_contain_text("An option was withdrawn")
    expect(overlay.locator("#ov-options li")).to_have_count(len(after))
    assert overlay_shown(overlay) == [f"!vote {p}" for p, _ in after]
    # What chat types is what the API takes: `!vote 3` counts for the option shown as 3.
    secret = issue_token(community, "vote").secret
    answer = page.evaluate(
        """async ([slug, secret]) => {
          const r = await fetch(`/api/communities/${slug}/votes`, {method: 'POST',
            headers: {'Authorization': 'Bearer ' + secret, 'Content-Type': 'application/json'},
            body: JSON.stringify({option: 3, platform_user_id: 'chatter'})});
          return {status: r.status, body: await r.json()};
        }""",
        [community.slug, secret],
    )
    assert answer["status"] == 200, answer
    third = page.locator(".vote-option[data-position='3']")
    expect(third).to_contain_text(after[1][1])
    expect(third.get_by_test_id("vote-count")).to_have_text("1 · 100%")
    expect(overlay.locator("#ov-options li", has_text="!vote 3")).to_contain_text("1 · 100%")
