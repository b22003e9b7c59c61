"""The dashboard's suggestion box in a real browser: a signed-in viewer suggests (stored once,
under their account, even when the answer is lost and they send again), refusals shown where
they belong, and an anonymous viewer invited to sign in and come back."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from scripts.demo_pages import seed_community
from tests.browser.helpers import open_dashboard, sign_in
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


SEND_FIVE = """async (slug) => {
  const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
  return Promise.all([0, 1, 2, 3, 4].map(n => fetch(`/api/communities/${slug}/suggestions`, {
    method: 'POST', credentials: 'same-origin',
    headers: {'X-CSRFToken': csrf, 'Content-Type': 'application/json'},
    body: JSON.stringify({text: 'idea number ' + n, message_id: 'five-' + n}),
  }).then(r => r.status)));
}"""


def suggestions(community: Any, text: str) -> list[Any]:
    from jobs.suggestions_models import Suggestion

    return list(Suggestion.objects.filter(community=community, text=text))


def signed_in_dashboard(new_page: Any, slug: str, **size: int) -> tuple[Any, Any]:
    page = new_page(**size)
    user = UserFactory()
    sign_in(page, user.username, f"/c/{slug}/")
    open_dashboard(page, slug)
    return page, user


def test_a_signed_in_viewer_suggests_and_sees_the_confirmation(new_page: Any) -> None:
    community = seed_community("suggest-ok")
    page, user = signed_in_dashboard(new_page, community.slug)
    box = page.get_by_test_id("suggest")
    expect(box).to_contain_text(f"Suggested as {user.username}")
    box.get_by_label("Your suggestion").fill("  A raid train alert with confetti  ")
    box.get_by_role("button", name="Send suggestion").click()
    feedback = box.get_by_test_id("suggest-feedback")
    expect(feedback).to_contain_text(
        "Thanks! Your suggestion “A raid train alert with confetti” is in"
    )
    expect(page.locator("#announcer")).to_contain_text("Thanks! Your suggestion")
    expect(box.get_by_label("Your suggestion")).to_have_value("")
    [stored] = suggestions(community, "A raid train alert with confetti")
    assert stored.viewer_key == f"user:{user.pk}"
    assert stored.display_name == user.username


def test_a_suggestion_whose_answer_was_lost_is_stored_once_when_sent_again(new_page: Any) -> None:
    community = seed_community("suggest-retry")
    page, _ = signed_in_dashboard(new_page, community.slug)
    box = page.get_by_test_id("suggest")
    text = "Viewer-picked background music"
    lost: list[str] = []

    def deliver_then_drop(route: Any) -> None:  # the server stores it; the browser never hears
        if not lost:
            lost.append(route.request.post_data_json["message_id"])
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/suggestions", deliver_then_drop)
    box.get_by_label("Your suggestion").fill(text)
    box.get_by_role("button", name="Send suggestion").click()
    expect(box.get_by_test_id("suggest-feedback")).to_contain_text("could not be sent")
    assert len(suggestions(community, text)) == 1
    box.get_by_role("button", name="Send suggestion").click()
    expect(box.get_by_test_id("suggest-feedback")).to_contain_text("Thanks!")
    [stored] = suggestions(community, text)
    assert stored.message_id.endswith(":" + lost[0])  # the same id both times


def test_refusals_are_shown_by_field_and_the_rate_limit_says_when_to_retry(new_page: Any) -> None:
    community = seed_community("suggest-refused")
    page, _ = signed_in_dashboard(new_page, community.slug, width=390, height=844)
    box = page.get_by_test_id("suggest")
    field = box.get_by_label("Your suggestion")
    errors = box.get_by_test_id("suggest-error")
    send = box.get_by_role("button", name="Send suggestion")
    field.fill("ok")  # checked here first: 3 characters at least
    send.click()
    expect(errors).to_have_text("Write at least 3 characters.")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    field.fill("a bell \u0007 in it")  # only the server knows this rule: its field error
    send.click()
    expect(errors).to_contain_text("must not contain control characters")
    field.fill("fixed now")
    expect(field).not_to_have_attribute("aria-invalid", "true")
    # The per-viewer limit (5 a minute, refilling one per 12 s): five sent at once from this
    # session use it up, so the form's next one is refused with the wait.
    statuses = page.evaluate(SEND_FIVE, community.slug)
    assert statuses == [201] * 5, statuses
    field.fill("one idea too many")
    send.click()
    expect(box.get_by_test_id("suggest-feedback")).to_contain_text(
        "You sent several suggestions in a short time. Try again in"
    )
    assert suggestions(community, "one idea too many") == []


def test_an_anonymous_viewer_is_invited_to_sign_in_and_comes_back(page: Any) -> None:
    community = seed_community("suggest-anon")
    UserFactory(username="suggester")
    open_dashboard(page, community.slug)
    box = page.get_by_test_id("suggest")
    expect(box.get_by_label("Your suggestion")).to_have_count(0)
    link = box.get_by_role("link", name="Sign in to suggest")
    expect(link).to_have_attribute("href", f"/accounts/login/?next=/c/{community.slug}/")
    link.click()
    page.get_by_label("Username").fill("suggester")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/c/{community.slug}/")
    expect(page.get_by_test_id("suggest").get_by_label("Your suggestion")).to_be_visible()
