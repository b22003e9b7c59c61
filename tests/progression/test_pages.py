"""The viewer dashboard and the OBS overlay pages."""

import pytest

from communities.models import Role
from tests.factories import CommunityFactory, MembershipFactory, UserFactory


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/c/{slug}/", "/c/{slug}/overlay/"])
def test_public_community_pages_render_with_the_stream_client(client, path):
    community = CommunityFactory()
    response = client.get(path.format(slug=community.slug))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-community="{community.slug}"' in body
    assert "js/stream.js" in body  # the one stream client


@pytest.mark.django_db
def test_the_dashboard_invites_anonymous_viewers_to_sign_in_and_back(client):
    community = CommunityFactory()
    body = client.get(f"/c/{community.slug}/").content.decode()
    assert f"/accounts/login/?next=/c/{community.slug}/" in body
    assert 'data-can-vote="0"' in body
    assert 'aria-live="polite"' in body


@pytest.mark.django_db
def test_a_signed_in_viewer_of_a_public_community_gets_the_vote_buttons(client):
    community = CommunityFactory()
    client.force_login(UserFactory())
    body = client.get(f"/c/{community.slug}/").content.decode()
    assert 'data-can-vote="1"' in body
    assert "Sign out" in body


@pytest.mark.django_db
def test_overlay_may_be_framed_by_obs_but_the_dashboard_may_not(client):
    community = CommunityFactory()
    assert "X-Frame-Options" not in client.get(f"/c/{community.slug}/overlay/")
    assert client.get(f"/c/{community.slug}/")["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_private_community_pages_are_hidden_from_outsiders_and_shown_to_members(client):
    community = CommunityFactory(visibility="private")
    assert client.get(f"/c/{community.slug}/").status_code == 404
    member = MembershipFactory(community=community, role=Role.MEMBER).user
    client.force_login(member)
    assert client.get(f"/c/{community.slug}/").status_code == 200


@pytest.mark.django_db
def test_unknown_community_page_is_404(client):
    assert client.get("/c/nobody-here/").status_code == 404


@pytest.mark.django_db
def test_the_dashboard_carries_its_first_snapshot_so_it_draws_without_waiting_for_the_api(client):
    import json
    import re

    from scripts.demo_pages import seed_community

    seed_community("snap")
    body = client.get("/c/snap/").content.decode()
    raw = re.search(r'<script id="snapshot" type="application/json">(.*?)</script>', body, re.S)
    assert raw is not None
    snapshot = json.loads(raw.group(1))
    api = client.get("/api/communities/snap/progression").json()
    assert snapshot["progression"]["progress"] == api["progress"]
    assert len(snapshot["tree"]) == len(client.get("/api/communities/snap/tree").json()["nodes"])
