"""The streamer's admin: seed_demo's owner sees and uses every progression page and action, on
their own community only, and every edit reaches the engine's caches at once."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache as shared_cache
from django.core.management import call_command
from django.test import Client

from communities.models import Community, Role
from progression.models import (
    EngagementWeight,
    Node,
    ProgressionSettings,
    Season,
    Unlock,
    VoteSession,
)
from progression.services import voting
from progression.services.state import open_season, settings_for
from progression.tree_state import snapshot
from progression.weights import weights_for
from tests.factories import CommunityFactory, MembershipFactory, NodeFactory, UserFactory

# Real commits: the admin's actions call durable services, as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_eager_tasks")]

PAGES = [
    "node",
    "engagementweight",
    "progressionsettings",
    "viewer",
    "contribution",
    "unlock",
    "unlockprogress",
    "season",
    "votesession",
]


@pytest.fixture
def demo() -> Community:
    call_command("seed_demo", stdout=StringIO())
    return Community.objects.get(slug="demo")


@pytest.fixture
def owner(demo) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username="demo"))
    return client


@pytest.fixture
def other() -> Community:
    """Someone else's community, with its own tree, weight and settings."""
    community = CommunityFactory(slug="elsewhere")
    MembershipFactory(community=community, role=Role.OWNER)
    NodeFactory(community=community, key="secret_node", cost_override=100)
    EngagementWeight.objects.create(community=community, metric="follow", weight=9)
    ProgressionSettings.objects.create(community=community, rollover_cap=77)
    open_season(community)
    return community


def url(model: str, *parts: object) -> str:
    return "/admin/progression/" + "/".join([model, *map(str, parts)]) + "/"


def act(client: Client, model: str, action: str, rows: list, **extra: str):
    data = {"action": action, "_selected_action": [row.pk for row in rows], **extra}
    return client.post(url(model), data, follow=True)


def shown(response) -> str:
    return " | ".join(str(m) for m in response.context["messages"])


def level_of(community: Community, key: str) -> int:
    season = Season.objects.get(community=community, ended_at__isnull=True)
    return snapshot(community.pk, season.pk).levels.get(key, 0)


def test_demo_owner_is_staff_without_superuser_or_progression_permission_rows(demo):
    user = get_user_model().objects.get(username="demo")

    assert user.is_staff and not user.is_superuser
    assert not user.user_permissions.filter(content_type__app_label="progression").exists()


def test_demo_owner_sees_every_progression_page_listed_on_the_admin_index(owner, demo):
    index = owner.get("/admin/").content.decode()

    for model in PAGES:
        assert f'href="{url(model)}"' in index, model
        assert owner.get(url(model)).status_code == 200, model
    node = Node.objects.filter(community=demo).first()
    assert owner.get(url("node", node.pk, "change")).status_code == 200


def test_owner_never_sees_another_communitys_rows(owner, other):
    nodes = owner.get(url("node")).content.decode()
    weights = owner.get(url("engagementweight")).content.decode()
    settings_page = owner.get(url("progressionsettings")).content.decode()

    assert "secret_node" not in nodes
    assert "elsewhere" not in nodes + weights + settings_page
    assert "9.0000" not in weights


def test_another_communitys_rows_answer_404_like_missing_ones_and_stay_unchanged(owner, other):
    node = Node.objects.get(key="secret_node")
    weight = EngagementWeight.objects.get(community=other)

    assert owner.get(url("node", node.pk, "change")).status_code == 404
    assert owner.get(url("node", 999999, "change")).status_code == 404
    assert owner.post(url("node", node.pk, "change"), {"name": "mine"}).status_code == 404
    assert owner.post(url("node", node.pk, "delete"), {"post": "yes"}).status_code == 404
    assert (
        owner.post(url("engagementweight", weight.pk, "change"), {"weight": "1"}).status_code == 404
    )
    assert Node.objects.get(pk=node.pk).name != "mine"
    assert EngagementWeight.objects.get(pk=weight.pk).weight == 9


def test_forms_offer_only_the_owners_community_and_its_nodes(owner, demo, other):
    weight_form = owner.get(url("engagementweight", "add")).content.decode()
    refused = owner.post(
        url("engagementweight", "add"), {"community": other.pk, "metric": "raid", "weight": "3"}
    )
    node = Node.objects.filter(community=demo).first()
    foreign = Node.objects.get(key="secret_node")
    prerequisite_refused = owner.post(
        url("node", node.pk, "change"), node_form(node, [(foreign.pk, 1)])
    )

    assert f'value="{demo.pk}"' in weight_form
    assert f'value="{other.pk}"' not in weight_form
    assert refused.status_code == 200  # the form again, with the error
    assert not EngagementWeight.objects.filter(community=other, metric="raid").exists()
    assert prerequisite_refused.status_code == 200
    assert not node.prerequisites.filter(required=foreign).exists()


def test_actions_never_touch_another_communitys_rows(owner, other):
    node = Node.objects.get(key="secret_node")

    act(owner, "node", "force_unlock_next_level", [node])

    assert not Unlock.objects.filter(node=node).exists()


def node_form(node: Node, prerequisites: list[tuple[int, int]], **changes: object) -> dict:
    data = {
        "name": node.name,
        "description": node.description,
        "category": node.category,
        "tier": node.tier,
        "size": node.size,
        "max_level": node.max_level,
        "cost_override": node.cost_override or "",
        "count_rules": "[]",
        "effects": "[]",
        "prerequisites-TOTAL_FORMS": len(prerequisites),
        "prerequisites-INITIAL_FORMS": 0,
        "prerequisites-MIN_NUM_FORMS": 0,
        "prerequisites-MAX_NUM_FORMS": 1000,
        **changes,
    }
    if node.auto_unlock:
        data["auto_unlock"] = "on"
    for i, (required, level) in enumerate(prerequisites):
        data[f"prerequisites-{i}-required"] = required
        data[f"prerequisites-{i}-min_level"] = level
    return data


def test_node_edited_in_admin_is_seen_by_the_engine_at_once(owner, demo):
    season = open_season(demo)
    node = NodeFactory(community=demo, key="fresh", cost_override=100)
    required = NodeFactory(community=demo, key="needed", cost_override=100)
    before = snapshot(demo.pk, season.pk)  # cached in this process
    assert before.nodes["fresh"].cost == 100

    response = owner.post(
        url("node", node.pk, "change"),
        node_form(node, [(required.pk, 1)], cost_override=250, name="Renamed"),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    after = snapshot(demo.pk, season.pk)
    assert after.nodes["fresh"].cost == 250
    assert [p.required.key for p in after.nodes["fresh"].prerequisites.all()] == ["needed"]


def test_prerequisite_cycle_is_refused_on_the_page(owner, demo):
    first = NodeFactory(community=demo, key="first")
    second = NodeFactory(community=demo, key="second")
    owner.post(url("node", second.pk, "change"), node_form(second, [(first.pk, 1)]))

    response = owner.post(url("node", first.pk, "change"), node_form(first, [(second.pk, 1)]))

    assert response.status_code == 200
    assert "prerequisite cycle: first -&gt; second -&gt; first" in response.content.decode()
    assert not first.prerequisites.exists()


def test_weight_edited_in_admin_changes_points_at_once(owner, demo):
    assert weights_for(demo.pk)["follow"] == 5  # cached in this process

    response = owner.post(
        url("engagementweight", "add"), {"community": demo.pk, "metric": "follow", "weight": "12"}
    )

    assert response.status_code == 302
    assert weights_for(demo.pk)["follow"] == 12


def test_weight_saved_in_a_shell_bumps_the_shared_version_every_process_checks(demo):
    """`.save()` outside any service (a shell, a script): the version in the shared cache (Redis
    in the real mode) changes, which is what every other process re-reads each 0.5 s."""
    weights_for(demo.pk)
    version_before = shared_cache.get(f"ver:weights:{demo.pk}")

    weight = EngagementWeight(community=demo, metric="follow", weight=8)
    weight.save()

    assert shared_cache.get(f"ver:weights:{demo.pk}") != version_before
    assert weights_for(demo.pk)["follow"] == 8
    weight.delete()
    assert weights_for(demo.pk)["follow"] == 5


def test_node_saved_in_a_shell_bumps_the_shared_tree_version(demo):
    season = open_season(demo)
    snapshot(demo.pk, season.pk)
    version_before = shared_cache.get(f"ver:tree:{demo.pk}")
    node = Node.objects.filter(community=demo).first()

    node.cost_override = 4321
    node.save()

    assert shared_cache.get(f"ver:tree:{demo.pk}") != version_before
    assert snapshot(demo.pk, season.pk).nodes[node.key].cost == 4321


def test_settings_edited_in_admin_reach_the_engine_at_once(owner, demo):
    assert settings_for(demo.pk).rollover_cap == 200

    response = owner.post(
        url("progressionsettings", "add"),
        {
            "community": demo.pk,
            "rollover_cap": 55,
            "vote_options": 3,
            "vote_duration_seconds": "",
            "vote_window_seconds": 30,
            "viewer_rate": 10,
            "viewer_burst": 20,
            "community_rate": 5000,
            "community_burst": 20000,
        },
    )

    assert response.status_code == 302
    assert settings_for(demo.pk).rollover_cap == 55


def test_moderator_sees_the_settings_but_only_owners_change_them(demo):
    moderator = UserFactory(is_staff=True)
    MembershipFactory(community=demo, user=moderator, role=Role.MODERATOR)
    ProgressionSettings.objects.create(community=demo)
    client = Client()
    client.force_login(moderator)

    page = client.get(url("progressionsettings", demo.pk, "change"))
    refused = client.post(url("progressionsettings", demo.pk, "change"), {"rollover_cap": 1})

    assert page.status_code == 200
    assert refused.status_code == 403
    assert ProgressionSettings.objects.get(pk=demo.pk).rollover_cap == 200


def test_force_unlock_and_relock_actions_change_the_tree(owner, demo):
    open_season(demo)
    node = Node.objects.filter(community=demo, tier=0).exclude(auto_unlock=True).first()
    start = level_of(demo, node.key)

    unlocked = act(owner, "node", "force_unlock_next_level", [node])
    assert level_of(demo, node.key) == start + 1, shown(unlocked)
    relocked = act(owner, "node", "relock_with_dependents", [node])

    assert f"{node.key}: unlocked at level {start + 1}" in shown(unlocked)
    assert f"{node.key}: relocked {node.key} L{start + 1}" in shown(relocked)
    assert level_of(demo, node.key) == start


def test_refused_action_is_shown_not_a_server_error(owner, demo):
    open_season(demo)
    node = Node.objects.filter(community=demo).first()

    response = act(owner, "node", "relock_highest_level", [node])

    assert response.status_code == 200
    assert f"{node.key}: {node.key} is not unlocked." in shown(response)


def test_season_reset_asks_first_then_starts_the_next_season(owner, demo):
    open_season(demo)
    season = Season.objects.get(community=demo, ended_at__isnull=True)

    asked = act(owner, "season", "reset_season", [season])
    assert "Reset the season?" in asked.content.decode()
    assert Season.objects.get(pk=season.pk).ended_at is None
    done = act(owner, "season", "reset_season", [season], confirmed="yes")

    assert Season.objects.get(pk=season.pk).ended_at is not None
    current = Season.objects.get(community=demo, ended_at__isnull=True)
    assert current.number == season.number + 1
    assert f"demo: season {current.number} started" in shown(done)


def test_vote_actions_freeze_unfreeze_and_close_the_open_vote(owner, demo):
    open_season(demo)
    session = voting.open_session(demo.pk) or voting.start_vote(demo)

    frozen = act(owner, "votesession", "freeze_vote", [session])
    assert VoteSession.objects.get(pk=session.pk).status == "frozen", shown(frozen)
    act(owner, "votesession", "unfreeze_vote", [session])
    assert VoteSession.objects.get(pk=session.pk).status == "open"
    closed = act(owner, "votesession", "close_vote", [session])

    assert VoteSession.objects.get(pk=session.pk).status == "resolved", shown(closed)
    assert re.search(r"demo: (winner \w+ L\d+|closed, no winner)", shown(closed))


def test_vote_opened_from_the_season_page(owner, demo):
    open_season(demo)
    if voting.open_session(demo.pk) is not None:
        voting.close_vote(demo)
    season = Season.objects.get(community=demo, ended_at__isnull=True)

    response = act(owner, "season", "start_vote", [season])

    assert voting.open_session(demo.pk) is not None, shown(response)


def test_community_filter_lists_only_the_owners_communities(owner, demo, other):
    page = owner.get(url("node")).content.decode()
    foreign = owner.get(url("node"), {"community": other.pk}).content.decode()

    assert f"?community={demo.pk}" in page
    assert f"?community={other.pk}" not in page
    assert "secret_node" not in foreign


def test_deleting_a_node_in_the_history_retires_it_and_a_fresh_one_is_deleted(owner, demo):
    open_season(demo)
    used = NodeFactory(community=demo, key="used")
    fresh = NodeFactory(community=demo, key="unused")
    act(owner, "node", "force_unlock_next_level", [used])

    for node in (used, fresh):
        response = owner.post(url("node", node.pk, "delete"), {"post": "yes"}, follow=True)
        assert response.status_code == 200

    assert Node.objects.get(pk=used.pk).retired_at is not None
    assert not Node.objects.filter(pk=fresh.pk).exists()
    season = Season.objects.get(community=demo, ended_at__isnull=True)
    assert "unused" not in snapshot(demo.pk, season.pk).nodes


def test_node_added_in_admin_with_a_prerequisite_is_in_the_engines_tree(owner, demo):
    season = open_season(demo)
    needed = NodeFactory(community=demo, key="needed")
    snapshot(demo.pk, season.pk)  # cached in this process
    data = node_form(Node(key="added", name="Added", tier=1), [(needed.pk, 1)])

    response = owner.post(url("node", "add"), {**data, "community": demo.pk, "key": "added"})

    assert response.status_code == 302, response.content.decode()[:2000]
    added = snapshot(demo.pk, season.pk).nodes["added"]
    assert [p.required.key for p in added.prerequisites.all()] == ["needed"]


def test_prerequisite_search_offers_only_the_owners_nodes(owner, demo, other):
    search = {"app_label": "progression", "model_name": "prerequisite", "field_name": "required"}

    found = owner.get("/admin/autocomplete/", {**search, "term": "secret"})
    mine = owner.get("/admin/autocomplete/", {**search, "term": ""})

    assert found.status_code == 200
    assert found.json()["results"] == []
    assert mine.json()["results"]  # the demo tree's nodes
