"""GET /api/communities/<slug>/unlocks: the history the dashboard shows after a reload, with
the same `unlock_id` the stream's `progression.node.unlocked` carries (so a page shows each
unlock once, whether it came from history or the stream)."""

from __future__ import annotations

import pytest

from progression.events import NODE_UNLOCKED
from progression.services import admin_actions
from realtime.models import OutboxEvent
from scripts.demo_pages import seed_community

pytestmark = pytest.mark.django_db


def test_unlocks_are_listed_newest_first_with_the_id_the_stream_announced(client) -> None:  # noqa: ANN001
    community = seed_community("history")
    admin_actions.force_unlock(community, "emote_slots", by="test")
    body = client.get("/api/communities/history/unlocks?limit=5").json()
    keys = [u["node"]["key"] for u in body["unlocks"]]
    assert keys[0] == "emote_slots"
    assert "welcome_wagon" in keys  # the demo tree's auto unlock
    announced = {
        e.data["unlock_id"]
        for e in OutboxEvent.objects.filter(community=community, type=NODE_UNLOCKED)
    }
    assert {u["unlock_id"] for u in body["unlocks"]} == announced
    assert body["unlocks"][0]["reason"] == "forced"
    assert body["unlocks"][0]["relocked_at"] is None


def test_relocked_unlocks_stay_in_the_history_marked(client) -> None:  # noqa: ANN001
    community = seed_community("relocked")
    admin_actions.force_unlock(community, "emote_slots", by="test")
    admin_actions.relock(community, "emote_slots", cascade=True, by="test")
    (first,) = [
        u
        for u in client.get("/api/communities/relocked/unlocks").json()["unlocks"]
        if u["node"]["key"] == "emote_slots"
    ]
    assert first["relocked_at"] is not None


def test_the_limit_is_bounded_and_private_history_is_404(client) -> None:  # noqa: ANN001
    seed_community("bounded")
    seed_community("closed", visibility="private")
    assert client.get("/api/communities/bounded/unlocks?limit=1").json()["unlocks"].__len__() == 1
    bad = client.get("/api/communities/bounded/unlocks?limit=0")
    assert bad.status_code == 422 or bad.status_code == 400
    assert bad.json()["error"]["code"]
    assert client.get("/api/communities/closed/unlocks").status_code == 404
