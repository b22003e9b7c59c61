"""A row the engine caches, changed outside any service (a shell's `.save()`), reaches a running
server: the save bumps the version in Redis and the server re-reads it within 0.5 s."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.test import Client

from communities.models import Role
from progression.models import EngagementWeight, Node
from progression.services.state import open_season
from tests.e2e.processes import Process
from tests.factories import (
    CommunityFactory,
    MembershipFactory,
    NodeFactory,
    UserFactory,
    issue_token,
)
from tests.progression.test_admin import node_form

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

# Generous for a loaded machine; the mechanism's own bound is 0.5 s (progression.cache).
DEADLINE = 15.0


def poll(read: Callable[[], Any], wanted: Any) -> tuple[Any, float]:
    """Reads until `wanted` is seen or the deadline passes; returns the last read and the time."""
    started = time.monotonic()
    while True:
        seen = read()
        if seen == wanted or time.monotonic() - started > DEADLINE:
            return seen, time.monotonic() - started
        time.sleep(0.1)


def served_nodes(reply: httpx.Response) -> list[dict[str, Any]]:
    assert reply.status_code == 200, reply.text
    return reply.json()["nodes"]


def test_weight_saved_in_a_shell_changes_points_on_a_running_server(web: Process):
    community = CommunityFactory()
    NodeFactory(community=community, key="goal", cost_override=10**9)
    secret = issue_token(community, "ingest").secret
    url = f"{web.base_url}/api/communities/{community.slug}/engagement"
    ids = itertools.count()

    def points_for_one_message() -> int:
        n = next(ids)
        event = {"platform_user_id": f"v{n}", "metric": "message", "message_id": f"m{n}"}
        reply = httpx.post(url, json=event, headers={"Authorization": f"Bearer {secret}"})
        assert reply.status_code == 200, reply.text
        return reply.json()["results"][0]["points"]

    assert points_for_one_message() == 1  # the server now holds the default weights

    EngagementWeight(community=community, metric="message", weight=7).save()

    seen, took = poll(points_for_one_message, 7)
    assert seen == 7, f"the server still credits {seen} per message after {took:.1f}s"


def test_node_saved_in_a_shell_shows_in_a_running_servers_tree(web: Process):
    community = CommunityFactory()
    node = NodeFactory(community=community, key="goal", name="Before", cost_override=10**9)
    open_season(community)
    url = f"{web.base_url}/api/communities/{community.slug}/tree"

    def name_served() -> str:
        reply = httpx.get(url)
        return {n["key"]: n["name"] for n in served_nodes(reply)}["goal"]

    assert name_served() == "Before"  # the server now holds the tree

    fresh = Node.objects.get(pk=node.pk)
    fresh.name = "After"
    fresh.save()

    seen, took = poll(name_served, "After")
    assert seen == "After", f"the server still serves {seen!r} after {took:.1f}s"


def test_node_edited_in_the_admin_shows_in_a_running_servers_tree(web: Process):
    owner = UserFactory(is_staff=True)
    community = CommunityFactory()
    MembershipFactory(community=community, user=owner, role=Role.OWNER)
    node = NodeFactory(community=community, key="goal", cost_override=10**9)
    needed = NodeFactory(community=community, key="needed", cost_override=10**9)
    open_season(community)
    url = f"{web.base_url}/api/communities/{community.slug}/tree"

    def prerequisites_served() -> list[str]:
        reply = httpx.get(url)
        nodes = served_nodes(reply)
        return {n["key"]: [p["key"] for p in n["prerequisites"]] for n in nodes}["goal"]

    assert prerequisites_served() == []  # the server now holds the tree
    admin = Client()
    admin.force_login(owner)

    saved = admin.post(
        f"/admin/progression/node/{node.pk}/change/", node_form(node, [(needed.pk, 1)])
    )

    assert saved.status_code == 302
    seen, took = poll(prerequisites_served, ["needed"])
    assert seen == ["needed"], f"the server still serves {seen!r} after {took:.1f}s"
