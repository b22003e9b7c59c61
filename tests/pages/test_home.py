"""The home page: public communities with their current target, never private ones, in a
constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scripts.demo_pages import seed_community

pytestmark = pytest.mark.django_db


def test_home_lists_public_communities_with_their_target_and_hides_private_ones(client) -> None:  # noqa: ANN001
    seed_community("open-house", name="Open House")
    seed_community("hidden-den", name="Hidden Den", visibility="private")
    page = client.get("/").content.decode()
    assert "Open House" in page
    assert "/c/open-house/" in page
    assert "Now unlocking" in page
    assert "Hidden Den" not in page
    assert "hidden-den" not in page


def test_home_explains_the_product_and_links_to_sign_up(client) -> None:  # noqa: ANN001
    page = client.get("/").content.decode()
    assert "No public community yet" in page
    assert 'href="/accounts/signup/"' in page
    assert 'rel="icon"' in page and "favicon.svg?v=" in page


def test_home_costs_the_same_queries_for_one_community_or_five(client) -> None:  # noqa: ANN001
    seed_community("first")
    with CaptureQueriesContext(connection) as one:
        client.get("/")
    for n in range(4):
        seed_community(f"more-{n}")
    with CaptureQueriesContext(connection) as five:
        client.get("/")
    assert len(five.captured_queries) == len(one.captured_queries)
