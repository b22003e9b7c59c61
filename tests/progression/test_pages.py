"""The viewer dashboard and the OBS overlay pages."""

import pytest

from communities.models import Role
from tests.factories import CommunityFactory, MembershipFactory


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/c/{slug}/", "/c/{slug}/overlay/"])
def test_public_community_pages_render_with_the_stream_client(client, path):
    community = CommunityFactory()
    response = client.get(path.format(slug=community.slug))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-community="{community.slug}"' in body
    assert "js/stream" in body  # the one stream client (static/js/stream.js)


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
