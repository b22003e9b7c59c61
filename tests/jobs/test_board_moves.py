"""The proposals board: moderators move and edit cards; positions stay dense; a stale version is
a 409 with the card as it is now; moves are recorded and every change is published."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from jobs.board_models import ProposalMove
from jobs.suggestions_models import Column, Proposal
from tests.factories import CommunityFactory, NodeFactory
from tests.jobs.conftest import positions

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mod_client(moderator) -> Client:
    client = Client()
    client.force_login(moderator)
    return client


def move(client: Client, card: Proposal, column: str, position: int, version: int | None = None):
    card.refresh_from_db()
    return client.post(
        f"/api/communities/{card.community.slug}/proposals/{card.pk}/move",
        data=json.dumps(
            {"column": column, "position": position, "version": version or card.version}
        ),
        content_type="application/json",
    )


def edit(client: Client, card: Proposal, **fields):
    card.refresh_from_db()
    body = {"version": card.version, **fields}
    return client.patch(
        f"/api/communities/{card.community.slug}/proposals/{card.pk}",
        data=json.dumps(body),
        content_type="application/json",
    )


def test_moving_a_card_up_its_column_shifts_the_cards_it_passes(
    community, mod_client, make_cards, board_events
):
    a, b, c, d = make_cards(community, "new", 4)

    response = move(mod_client, d, "new", 1)

    assert response.status_code == 200, response.content
    assert response.json()["position"] == 1 and response.json()["version"] == 2
    assert positions(community)["new"] == [a.pk, d.pk, b.pk, c.pk]
    ((kind, data),) = board_events(community)
    assert kind == "board.card.moved"
    assert data["card"]["id"] == d.pk
    assert data["from"] == {"column": "new", "position": 3}
    assert data["to"] == {"column": "new", "position": 1}


def test_moving_a_card_down_its_column_shifts_the_others_up(community, mod_client, make_cards):
    a, b, c, d = make_cards(community, "new", 4)

    assert move(mod_client, a, "new", 2).status_code == 200

    assert positions(community)["new"] == [b.pk, c.pk, a.pk, d.pk]


def test_moving_to_another_column_closes_the_gap_and_opens_a_place(
    community, mod_client, make_cards
):
    a, b, c, s0, s1 = make_cards(community, "new", 3, "shortlisted", 2)

    assert move(mod_client, b, "shortlisted", 1).status_code == 200

    assert positions(community) == {"new": [a.pk, c.pk], "shortlisted": [s0.pk, b.pk, s1.pk]}


def test_a_position_past_the_end_puts_the_card_last(community, mod_client, make_cards):
    a, b, s0 = make_cards(community, "new", 2, "accepted", 1)

    first = move(mod_client, a, "accepted", 99)
    second = move(mod_client, b, "new", 50)

    assert first.json()["position"] == 1 and second.json()["position"] == 0
    assert positions(community) == {"new": [b.pk], "accepted": [s0.pk, a.pk]}


def test_every_move_is_recorded_with_who_from_and_to(community, moderator, mod_client, make_cards):
    (card,) = make_cards(community, "new", 1)

    move(mod_client, card, "shortlisted", 0)
    move(mod_client, card, "accepted", 0)
    history = mod_client.get(f"/api/communities/{community.slug}/proposals/{card.pk}/moves")

    moves = list(ProposalMove.objects.filter(proposal=card).order_by("pk"))
    assert [(m.from_column, m.to_column, m.user_id) for m in moves] == [
        ("new", "shortlisted", moderator.pk),
        ("shortlisted", "accepted", moderator.pk),
    ]
    assert [m["to_column"] for m in history.json()] == ["shortlisted", "accepted"]
    assert history.json()[0]["by"] == {"user": moderator.pk}


def test_a_move_on_a_stale_version_is_409_with_the_current_card_and_writes_nothing(
    community, mod_client, make_cards, board_events
):
    a, b = make_cards(community, "new", 2)
    assert move(mod_client, a, "new", 1).status_code == 200  # version 2 now

    response = move(mod_client, a, "shortlisted", 0, version=1)

    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "stale_version"
    assert body["card"]["id"] == a.pk and body["card"]["version"] == 2
    assert body["card"]["column"] == "new" and body["card"]["position"] == 1
    assert positions(community) == {"new": [b.pk, a.pk]}
    assert len(board_events(community)) == 1


def test_an_edit_on_a_stale_version_is_409_with_the_current_card(community, mod_client, make_cards):
    (card,) = make_cards(community, "new", 1)
    assert edit(mod_client, card, title="Neon overlay").status_code == 200

    response = mod_client.patch(
        f"/api/communities/{community.slug}/proposals/{card.pk}",
        data=json.dumps({"version": 1, "title": "Something else"}),
        content_type="application/json",
    )

    assert response.status_code == 409
    assert response.json()["card"]["title"] == "Neon overlay"
    card.refresh_from_db()
    assert card.title == "Neon overlay" and card.version == 2


def test_only_the_build_job_moves_a_card_to_built(community, mod_client, make_cards):
    (card,) = make_cards(community, "accepted", 1)

    response = move(mod_client, card, "built", 0)

    assert response.status_code == 400  # not a column a moderator may name
    card.refresh_from_db()
    assert card.column == "accepted"


def test_a_built_card_is_final_it_cannot_be_moved_or_edited(community, mod_client, make_cards):
    (card,) = make_cards(community, "built", 1, built_node=NodeFactory(community=community))

    moved = move(mod_client, card, "accepted", 0)
    edited = edit(mod_client, card, title="Again")

    assert moved.status_code == 409 and moved.json()["error"]["code"] == "move_refused"
    assert edited.status_code == 409
    card.refresh_from_db()
    assert (card.column, card.title, card.version) == ("built", "built 0", 1)


def test_a_card_merged_into_another_is_off_the_board_and_cannot_move(
    community, mod_client, make_cards
):
    target, merged = make_cards(community, "new", 2)
    Proposal.objects.filter(pk=merged.pk).update(merged_into=target, position=None)

    response = move(mod_client, merged, "shortlisted", 0)

    assert response.status_code == 409


def test_a_rejected_card_may_come_back_and_an_accepted_one_be_rejected(
    community, mod_client, make_cards
):
    card, other = make_cards(community, "rejected", 1, "accepted", 1)

    assert move(mod_client, card, "new", 0).status_code == 200
    assert move(mod_client, other, "rejected", 0).status_code == 200


def test_an_edit_changes_only_what_was_sent_and_publishes_the_card(
    community, mod_client, make_cards, board_events
):
    (card,) = make_cards(community, "shortlisted", 1, summary="kept", cost=500)

    response = edit(
        mod_client, card, title="  Neon overlay ", tier=2, prerequisites=["emotes", "card:7"]
    )
    reset = edit(mod_client, card, cost=None)

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Neon overlay" and response.json()["summary"] == "kept"
    assert response.json()["prerequisites"] == ["emotes", "card:7"] and response.json()["tier"] == 2
    assert reset.status_code == 200, reset.content
    card.refresh_from_db()
    assert card.cost is None and card.version == 3
    kinds = [kind for kind, _ in board_events(community)]
    assert kinds == ["board.card.updated", "board.card.updated"]
    assert board_events(community)[0][1]["changed"] == ["prerequisites", "tier", "title"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"tier": -1}, "tier"),
        ({"tier": "2"}, "tier"),
        ({"cost": -5}, "cost"),
        ({"prerequisites": ["Not A Key"]}, "prerequisites"),
        ({"prerequisites": ["a", "a"]}, "prerequisites"),
        ({"column": "new"}, "column"),
    ],
)
def test_a_bad_edit_is_refused_with_400_naming_the_field(
    community, mod_client, make_cards, body, field
):
    (card,) = make_cards(community, "new", 1)

    response = mod_client.patch(
        f"/api/communities/{community.slug}/proposals/{card.pk}",
        data=json.dumps({"version": 1, **body}),
        content_type="application/json",
    )

    assert response.status_code == 400, response.content
    assert any(name.startswith(field) for name in response.json()["error"]["fields"])
    card.refresh_from_db()
    assert card.version == 1


def test_a_card_of_another_community_is_not_found(community, mod_client, make_cards):
    (elsewhere,) = make_cards(CommunityFactory(), "new", 1)

    response = mod_client.post(
        f"/api/communities/{community.slug}/proposals/{elsewhere.pk}/move",
        data=json.dumps({"column": "shortlisted", "position": 0, "version": 1}),
        content_type="application/json",
    )

    assert response.status_code == 404


def test_the_board_reads_grouped_by_column_in_position_order(community, member, make_cards):
    a, b, c = make_cards(community, "new", 2, "accepted", 1)
    Proposal.objects.filter(pk=a.pk).update(position=5)
    Proposal.objects.filter(pk=b.pk).update(position=0)
    Proposal.objects.filter(pk=a.pk).update(position=1)
    client = Client()
    client.force_login(member)

    board = client.get(f"/api/communities/{community.slug}/proposals").json()

    assert set(board) == set(Column.values)
    assert [card["id"] for card in board["new"]] == [b.pk, a.pk]
    assert [card["id"] for card in board["accepted"]] == [c.pk]
    assert board["built"] == [] and board["rejected"] == []
