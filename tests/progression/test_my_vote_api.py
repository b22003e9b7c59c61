"""GET /api/communities/<slug>/votes/mine: a web viewer's own choice in the open vote, so the
dashboard marks it on any device."""

from __future__ import annotations

import pytest

from progression.services import voting
from scripts.demo_pages import seed_community
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_signed_in_viewer_sees_the_option_they_chose_and_nobody_elses(client) -> None:  # noqa: ANN001
    community = seed_community("mine", open_vote=True)
    ann, bob = UserFactory(), UserFactory()
    voting.cast_vote(community, voter=f"user:{ann.pk}", option=2)
    voting.cast_vote(community, voter="viewer:ann", option=1)  # a chat vote is not ann's web vote
    session = voting.open_session(community.pk)
    assert session is not None
    client.force_login(ann)
    assert client.get("/api/communities/mine/votes/mine").json() == {
        "session_id": session.pk,
        "option": 2,
    }
    client.force_login(bob)
    assert client.get("/api/communities/mine/votes/mine").json()["option"] is None


def test_anonymous_viewers_and_closed_votes_have_no_choice(client) -> None:  # noqa: ANN001
    seed_community("nobody", open_vote=True)
    answer = client.get("/api/communities/nobody/votes/mine").json()
    assert answer["session_id"] is not None and answer["option"] is None
    seed_community("quiet", visibility="private")
    assert client.get("/api/communities/quiet/votes/mine").status_code == 404
