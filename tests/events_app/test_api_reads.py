"""The read API of events: who may read (public: anyone; private: members and `read` tokens,
outsiders get the 404 of an unknown slug), parameter errors in the one JSON error shape, the
answer's shape, and the CSV (content, filename, formula escaping)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from events_app.selectors import figures_for_events
from realtime.access import snapshot_urls
from tests.events_app import builders as b
from tests.factories import CommunityFactory, MembershipFactory, UserFactory, issue_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(community):
    """A bake-along: cookies half produced, a gift box assembled once of two, two deliveries."""
    ev = b.event(community, "Bake-along", starts_on=b.today(), ends_on=b.today() + timedelta(1))
    cookies = b.item(community, "cookies", yield_per_batch=12)
    box = b.bundle(community, "gift box", {cookies: 6})
    b.production_target(ev, cookies, 4)
    b.assembly_target(ev, box, 2)
    b.production_run(ev, cookies, 2)
    b.assembly_run(ev, box, 1)
    b.delivery(ev, box, "ready")
    b.delivery(ev, box, "delivered")
    return ev


def _urls(community, ev):
    base = f"/api/communities/{community.slug}/events"
    return [base, f"{base}/{ev.pk}", f"{base}/{ev.pk}/progress.csv"]


def _headers(kind, community):
    """Credentials of each kind of caller, as the client sends them (or a signed-in user)."""
    if kind in ("read token", "ingest token"):
        scope = kind.split()[0]
        return {"Authorization": f"Bearer {issue_token(community, scope).secret}"}, None
    if kind == "other community's token":
        other = CommunityFactory()
        return {"Authorization": f"Bearer {issue_token(other, 'read', 'admin').secret}"}, None
    if kind == "member":
        return {}, MembershipFactory(community=community).user
    if kind == "outsider":
        return {}, UserFactory()
    return {}, None


ACCESS = [
    # (visibility, caller, status)
    ("public", "anonymous", 200),
    ("public", "member", 200),
    ("public", "outsider", 200),
    ("public", "read token", 200),
    ("public", "other community's token", 200),
    ("private", "anonymous", 404),
    ("private", "member", 200),
    ("private", "outsider", 404),
    ("private", "read token", 200),
    ("private", "ingest token", 403),
    ("private", "other community's token", 404),
]


@pytest.mark.parametrize(("visibility", "caller", "status"), ACCESS)
def test_who_may_read_the_list_the_detail_and_the_csv(
    client, community, stocked, visibility, caller, status
):
    community.visibility = visibility
    community.save()
    headers, user = _headers(caller, community)
    if user is not None:
        client.force_login(user)
    for url in _urls(community, stocked):
        answer = client.get(url, {"when": "all"}, headers=headers)
        assert answer.status_code == status, (url, answer.content)
        if status == 404:
            unknown = client.get(url.replace(community.slug, "no-such-hub"), headers=headers)
            assert answer.json() == {
                "error": {**unknown.json()["error"], "message": f"No community {community.slug!r}."}
            }


def test_the_list_answers_each_event_with_its_figures(client, community, stocked):
    body = client.get(f"/api/communities/{community.slug}/events").json()
    assert body["next_cursor"] is None
    assert (body["when"], body["from"], body["to"], body["limit"]) == ("upcoming", None, None, 50)
    (event,) = body["events"]
    assert event["name"] == "Bake-along"
    progress = event["progress"]
    (cookies,) = progress["production"]
    assert (cookies["item"], cookies["produced_batches"], cookies["produced_yield"]) == (
        "cookies",
        2,
        24,
    )
    assert (cookies["percent"], cookies["remaining"], cookies["complete"]) == (50.0, 2, False)
    (box,) = progress["assembly"]
    assert (box["assembled"], box["percent"]) == (1, 50.0)
    assert progress["deliveries"] == {"pending": 0, "ready": 1, "delivered": 1, "total": 2}
    assert progress["available"] == [
        {
            "item_id": cookies["item_id"],
            "item": "cookies",
            "produced_yield": 24,
            "consumed": 6,
            "available": 18,
        }
    ]
    assert (progress["status"], progress["complete"]) == ("in_progress", False)
    detail = client.get(f"/api/communities/{community.slug}/events/{stocked.pk}").json()
    assert detail == event
    # The same shape as `EventFigures.as_json()`, which the stream payloads carry.
    assert progress == json.loads(
        json.dumps(figures_for_events([stocked.pk])[stocked.pk].as_json())
    )


def error_of(answer, status):
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"from": "2026-05-02", "to": "2026-05-01"}, {"from", "to"}),
        ({"when": "soon"}, {"when"}),
        ({"from": "2026-13-01"}, {"from"}),
        ({"to": "yesterday"}, {"to"}),
        ({"cursor": "not-a-cursor"}, {"cursor"}),
        ({"limit": "0"}, {"limit"}),
        ({"limit": "201"}, {"limit"}),
    ],
)
def test_bad_list_parameters_are_400_naming_each(client, community, query, fields):
    error = error_of(client.get(f"/api/communities/{community.slug}/events", query), 400)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == fields


def test_from_equal_to_to_is_one_day_and_is_fine(client, community, stocked):
    day = b.today().isoformat()
    answer = client.get(f"/api/communities/{community.slug}/events", {"from": day, "to": day})
    assert [e["name"] for e in answer.json()["events"]] == ["Bake-along"]


def test_pages_over_http_carry_the_cursor_and_the_limit(client, community):
    for n in range(5):
        b.event(community, f"e{n}")
    url = f"/api/communities/{community.slug}/events"
    first = client.get(url, {"limit": 3}).json()
    second = client.get(url, {"limit": 3, "cursor": first["next_cursor"]}).json()
    names = [e["name"] for e in first["events"] + second["events"]]
    assert names == ["e0", "e1", "e2", "e3", "e4"]
    assert second["next_cursor"] is None


def test_an_unknown_event_or_another_communitys_is_404(client, community):
    theirs = b.event(CommunityFactory(), "theirs")
    base = f"/api/communities/{community.slug}/events"
    for url in (f"{base}/{theirs.pk}", f"{base}/999999", f"{base}/{theirs.pk}/progress.csv"):
        assert error_of(client.get(url), 404)["code"] == "not_found"
    assert client.get(f"{base}/{2**64}").status_code in (400, 404)


def _csv_rows(answer):
    return list(csv.reader(io.StringIO(answer.content.decode())))


def test_the_csv_has_a_row_per_target_then_the_summaries(client, community, stocked):
    answer = client.get(f"/api/communities/{community.slug}/events/{stocked.pk}/progress.csv")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert answer["Content-Disposition"] == (
        f'attachment; filename="{community.slug}-event-{stocked.pk}-progress.csv"'
    )
    rows = _csv_rows(answer)
    assert rows[0] == [
        "kind",
        "name",
        "target",
        "done",
        "percent",
        "remaining",
        "overage",
        "complete",
    ]
    assert rows[1] == ["production", "cookies", "4", "2", "50.0", "2", "0", "no"]
    assert rows[2] == ["assembly", "gift box", "2", "1", "50.0", "1", "0", "no"]
    assert rows[3] == ["production_summary", "in_progress", "1", "0", "50.0", "1", "", "no"]
    assert rows[4] == ["assembly_summary", "in_progress", "1", "0", "50.0", "1", "", "no"]
    assert rows[5] == ["event", "Bake-along", "2", "0", "", "2", "", "no"]
    assert rows[6:10] == [
        ["deliveries", "pending", "", "0", "", "", "", ""],
        ["deliveries", "ready", "", "1", "", "", "", ""],
        ["deliveries", "delivered", "", "1", "", "", "", ""],
        ["deliveries", "total", "", "2", "", "", "", ""],
    ]
    assert rows[10] == ["available", "cookies", "24", "18", "", "", "", ""]


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_escaped(client, community):
    ev = b.event(community, '=HYPERLINK("http://evil","x")')
    for name in ("+1+1", "-2+3", "@SUM(A1)", "plain - name", "\tTAB"):
        b.production_target(ev, b.item(community, name), 1)
    answer = client.get(f"/api/communities/{community.slug}/events/{ev.pk}/progress.csv")
    names = [row[1] for row in _csv_rows(answer)[1:]]
    assert set(names[:5]) == {"'\tTAB", "'+1+1", "'-2+3", "'@SUM(A1)", "plain - name"}
    assert '\'=HYPERLINK("http://evil","x")' in names
    assert not any(n.startswith(("=", "+", "-", "@", "\t")) for n in names)


def test_after_a_stream_reset_the_events_list_is_among_the_snapshots_to_refetch(client, community):
    community.visibility = "private"
    community.save()
    url = snapshot_urls(community.slug)["events"]
    assert url == f"/api/communities/{community.slug}/events"
    token = issue_token(community, "read").secret
    assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
