"""The console's proposals board in a real browser (issue 11, points 9 and 11): a move by one
moderator, by drag and drop or by the keyboard controls, appears live in a second moderator's
console and never on an anonymous page; a stale move is refused and explained; build-tree moves
the accepted cards to `built` and the tree gains their nodes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models import F
from playwright.sync_api import Page, expect

from communities.models import Community, Role
from jobs.suggestions_models import Proposal
from scripts.demo_pages import seed_community
from tests.browser.helpers import open_dashboard, sign_in
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Records every event the page's EventSource delivers and every stream URL it opens, whatever
# the page does with them (the dashboard shows only some).
RECORD_STREAM = """
(() => {
  const Real = window.EventSource;
  window.__streamUrls = [];
  window.__streamTypes = [];
  window.EventSource = function (url, init) {
    const source = new Real(url, init);
    window.__streamUrls.push(String(url));
    const add = source.addEventListener.bind(source);
    source.addEventListener = (type, listener, options) => add(type, (event) => {
      window.__streamTypes.push(type);
      return listener(event);
    }, options);
    return source;
  };
  Object.assign(window.EventSource, {CONNECTING: 0, OPEN: 1, CLOSED: 2});
})();
"""


def seed_cards(community: Community, column: str, *titles: str, **fields: Any) -> list[Proposal]:
    """Cards at the end of `column` (dense positions), as the generate_proposals job leaves them."""
    start = Proposal.objects.filter(
        community=community, column=column, position__isnull=False
    ).count()
    return [
        Proposal.objects.create(
            community=community,
            column=column,
            position=start + n,
            title=title,
            summary=f"3 viewers asked for this in 4 suggestions: “{title.lower()}”.",
            supporters=3,
            suggestion_count=4,
            confidence=0.61,
            sample_quotes=[{"text": f"pls add {title.lower()}", "by": "ann"}],
            **fields,
        )
        for n, title in enumerate(titles)
    ]


def moderator(community: Community) -> str:
    return MembershipFactory(community=community, role=Role.MODERATOR).user.username


def open_console(page: Page, username: str, slug: str) -> None:
    sign_in(page, username, f"/c/{slug}/manage/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.get_by_test_id("board").locator(".board-col")).to_have_count(5, timeout=20_000)


def titles(page: Page, column: str) -> Any:
    return page.get_by_test_id(f"column-{column}").locator(".board-title")


def test_a_board_move_appears_live_for_another_moderator_and_never_on_an_anonymous_page(
    new_page: Any,
) -> None:
    community = seed_community("board-room")
    seed_cards(community, "new", "Pet dragon", "Neon overlay", "Hype horn")
    anonymous = new_page()
    anonymous.add_init_script(RECORD_STREAM)
    open_dashboard(anonymous, community.slug)
    first, second = new_page(1280, 1400), new_page()
    open_console(first, moderator(community), community.slug)
    open_console(second, moderator(community), community.slug)
    expect(titles(second, "new")).to_have_text(["Pet dragon", "Neon overlay", "Hype horn"])

    # Drag and drop: "Pet dragon" onto the (empty) accepted column.
    card = first.locator(".board-card", has_text="Pet dragon")
    first.get_by_test_id("board").evaluate("(board) => board.scrollIntoView()")
    card.drag_to(
        first.get_by_test_id("column-accepted").locator("ol"), target_position={"x": 30, "y": 10}
    )

    expect(titles(second, "accepted")).to_have_text(["Pet dragon"], timeout=10_000)
    expect(titles(second, "new")).to_have_text(["Neon overlay", "Hype horn"])
    expect(titles(first, "accepted")).to_have_text(["Pet dragon"])

    # The keyboard way: Up on "Hype horn", pressed with Enter; the focus stays on the control.
    up = first.get_by_role("button", name="Move Hype horn up")
    up.focus()
    up.press("Enter")

    expect(titles(second, "new")).to_have_text(["Hype horn", "Neon overlay"], timeout=10_000)
    expect(titles(first, "new")).to_have_text(["Hype horn", "Neon overlay"])
    expect(first.get_by_role("button", name="Move Hype horn up")).to_be_focused()

    # And across columns from the keyboard: "Move to" Rejected.
    first.get_by_label("Move Neon overlay to column").select_option("rejected")
    first.get_by_role("button", name="Move Neon overlay to the chosen column").press("Enter")
    expect(titles(second, "rejected")).to_have_text(["Neon overlay"], timeout=10_000)
    expect(titles(second, "new")).to_have_text(["Hype horn"])
    moves = Proposal.objects.get(community=community, title="Neon overlay").moves.count()
    assert moves == 1

    # A later event on a topic the dashboard reads: had it received board events, they would
    # have come before it (one sequence per community, in commit order).
    first.get_by_role("button", name="Freeze", exact=True).click()
    anonymous.wait_for_function(
        "window.__streamTypes.includes('progression.vote.frozen')", timeout=10_000
    )
    seen = anonymous.evaluate("({urls: window.__streamUrls, types: window.__streamTypes})")
    asked = [parse_qs(urlsplit(url).query)["topics"][0].split(",") for url in seen["urls"]]
    assert asked and all("board" not in topics for topics in asked), seen
    assert not [t for t in seen["types"] if t.startswith("board.")], seen
    page_text = anonymous.locator("body").inner_text()
    assert "Pet dragon" not in page_text and "Neon overlay" not in page_text

    # An anonymous client that asks for the board itself is refused, stream and API alike.
    refused = anonymous.evaluate(
        """async (slug) => {
          const ask = async (path) => {
            const abort = new AbortController();
            const r = await fetch(path, {signal: abort.signal});
            const text = r.status === 200 ? '' : await r.text();
            abort.abort();
            return [r.status, text];
          };
          return {
            stream: await ask(`/api/communities/${slug}/stream?topics=board`),
            board: await ask(`/api/communities/${slug}/proposals`),
          };
        }""",
        community.slug,
    )
    assert refused["stream"][0] == 401 and "board.card" not in refused["stream"][1], refused
    assert refused["board"][0] == 401 and "Pet dragon" not in refused["board"][1], refused


def test_a_stale_move_is_refused_explained_and_the_board_read_again(new_page: Any) -> None:
    community = seed_community("board-stale")
    card, _ = seed_cards(community, "shortlisted", "Laser cats", "Confetti")
    console = new_page()
    open_console(console, moderator(community), community.slug)
    expect(titles(console, "shortlisted")).to_have_text(["Laser cats", "Confetti"])
    # Someone changed the card (a recount of its supporters) behind the console's back.
    Proposal.objects.filter(pk=card.pk).update(version=F("version") + 1, title="Laser cats!")

    console.get_by_role("button", name="Move Laser cats down").click()

    expect(console.get_by_test_id("board").locator("#board-error")).to_contain_text(
        "changed by someone else"
    )
    expect(titles(console, "shortlisted")).to_have_text(["Laser cats!", "Confetti"])
    card.refresh_from_db()
    assert (card.column, card.position, card.version) == ("shortlisted", 0, 2)


def test_an_edit_by_one_moderator_shows_in_the_other_console(new_page: Any) -> None:
    community = seed_community("board-edit")
    seed_cards(community, "new", "Dragon pet")
    first, second = new_page(), new_page()
    open_console(first, moderator(community), community.slug)
    open_console(second, moderator(community), community.slug)

    first.get_by_role("button", name="Edit Dragon pet").click()
    dialog = first.locator("#card-edit")
    dialog.get_by_label("Title").fill("Pet dragon companion")
    dialog.get_by_label("Tier").fill("2")
    dialog.get_by_label("Cost (points)").fill("450")
    dialog.get_by_role("button", name="Save card").click()

    expect(dialog).to_be_hidden()
    expect(titles(second, "new")).to_have_text(["Pet dragon companion"], timeout=10_000)
    expect(second.get_by_test_id("column-new")).to_contain_text("tier 2 · cost 450")
    second.get_by_test_id("column-new").get_by_text("1 sample quote").click()
    expect(second.get_by_test_id("column-new")).to_contain_text("“pls add dragon pet”")


def test_build_tree_moves_the_accepted_cards_to_built_and_the_tree_gains_their_nodes(
    new_page: Any,
) -> None:
    community = seed_community("board-build")
    seed_cards(community, "accepted", "Laser Cats", "Confetti Rain", tier=1)
    seed_cards(community, "new", "Not yet")
    first, second = new_page(), new_page()
    open_console(first, moderator(community), community.slug)
    open_console(second, moderator(community), community.slug)
    expect(titles(first, "accepted")).to_have_text(["Laser Cats", "Confetti Rain"])

    first.get_by_role("button", name="Build tree from accepted cards").click()

    expect(titles(second, "built")).to_have_text(["Laser Cats", "Confetti Rain"], timeout=30_000)
    expect(titles(second, "accepted")).to_have_count(0)
    expect(titles(second, "new")).to_have_text(["Not yet"])
    expect(second.get_by_test_id("column-built")).to_contain_text("laser_cats")
    expect(first.get_by_test_id("board-build-status")).to_have_text("Built 2 nodes", timeout=30_000)
    expect(first.get_by_role("button", name="Build tree from accepted cards")).to_be_disabled()
    for page in (first, second):
        expect(page.locator("tr[data-key='laser_cats']")).to_be_visible(timeout=10_000)
        expect(page.locator("tr[data-key='confetti_rain']")).to_be_visible()
    built = Proposal.objects.filter(community=community, column="built").count()
    assert built == 2
