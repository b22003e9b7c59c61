"""Tree files: validation of the whole file with located problems, sync into a community,
the load_tree command and the demo tree."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from communities.errors import InvalidInput
from progression import rules
from progression.models import Node, Prerequisite, Season, Unlock, UnlockProgress, default_cost
from progression.services.tree import SyncReport, plan_tree, sync_tree
from progression.tree_schema import parse_tree_text, read_tree_file, validate_tree
from tests.factories import CommunityFactory, NodeFactory

DEMO = Path(__file__).resolve().parents[2] / "progression" / "demo" / "tree.yaml"


def spec(key, **fields):
    return {"key": key, "name": key.title(), "tier": 0, "size": "small", **fields}


def problems(data):
    with pytest.raises(InvalidInput) as caught:
        validate_tree(data)
    return caught.value.fields


def db_tree(community):
    return {
        node.key: (node.name, node.tier, node.max_level, node.cost_override)
        for node in Node.objects.filter(community=community)
    }


def db_prerequisites(community):
    return set(
        Prerequisite.objects.filter(node__community=community).values_list(
            "node__key", "required__key", "min_level"
        )
    )


def unlock(node, level=1):
    season, _ = Season.objects.get_or_create(community=node.community, number=1)
    return Unlock.objects.create(community=node.community, season=season, node=node, level=level)


# The format ----------------------------------------------------------------------------------


def test_minimal_node_gets_the_documented_defaults():
    tree = validate_tree({"nodes": [spec("a"), spec("b", prerequisites=["a"])]})

    a, b = tree.nodes
    assert (a.max_level, a.cost, a.auto_unlock, a.effects, a.count_rules) == (
        1,
        None,
        False,
        [],
        [],
    )
    assert [(p.key, p.level) for p in b.prerequisites] == [("a", 1)]


def test_prerequisites_may_mix_plain_keys_and_minimum_levels():
    tree = validate_tree(
        {
            "nodes": [
                spec("a", max_level=3),
                spec("b"),
                spec("c", prerequisites=["b", {"key": "a", "level": 3}]),
            ]
        }
    )

    assert [(p.key, p.level) for p in tree.nodes[2].prerequisites] == [("b", 1), ("a", 3)]


def test_effects_are_free_form_for_bots_but_need_a_string_type():
    effect = {"type": "chat_command", "value": "!hype", "cooldown": {"seconds": 30}}

    tree = validate_tree({"nodes": [spec("a", effects=[effect])]})

    assert tree.nodes[0].effects == [effect]


@pytest.mark.parametrize(
    ("size", "tier", "cost"),
    [
        ("small", 0, 50),
        ("medium", 0, 200),
        ("large", 0, 800),
        ("small", 1, 75),
        ("medium", 2, 450),
        ("large", 3, 2700),
        ("small", 5, 380),  # 50 × 7.59375 = 379.6875, rounded
    ],
)
def test_default_cost_is_base_for_size_times_one_and_a_half_per_tier(size, tier, cost):
    assert default_cost(size, tier) == cost
    assert (
        validate_tree({"nodes": [spec("a", size=size, tier=tier)]}).nodes[0].effective_cost == cost
    )


# Validation: every kind of problem, with its location ----------------------------------------


def test_unknown_field_is_refused_at_its_node():
    found = problems({"nodes": [spec("a", colour="red")]})

    assert found == {"nodes[0] (key 'a')": ["unknown field 'colour'"]}


def test_unknown_field_in_a_prerequisite_or_at_the_top_is_refused():
    found = problems(
        {"version": 2, "nodes": [spec("a"), spec("b", prerequisites=[{"key": "a", "lvl": 2}])]}
    )

    assert found == {
        "(file)": ["unknown field 'version'"],
        "nodes[1].prerequisites[0]": ["unknown field 'lvl'"],
    }


def test_missing_required_field_is_reported_at_its_node():
    node = spec("a")
    del node["size"]

    assert problems({"nodes": [node]}) == {"nodes[0] (key 'a')": ["missing required field 'size'"]}


def test_duplicate_node_key_is_reported_with_the_first_occurrence():
    found = problems({"nodes": [spec("a"), spec("b"), spec("a")]})

    assert found == {"nodes[2] (key 'a')": ["duplicate key 'a' (first at nodes[0])"]}


def test_unknown_prerequisite_is_reported_at_its_position():
    found = problems({"nodes": [spec("a"), spec("b", prerequisites=["a", "foo"])]})

    assert found == {"nodes[1].prerequisites[1]": ["unknown node 'foo'"]}


def test_prerequisite_level_above_the_required_nodes_max_level_is_refused():
    found = problems(
        {"nodes": [spec("a", max_level=3), spec("b", prerequisites=[{"key": "a", "level": 4}])]}
    )

    assert found == {
        "nodes[1].prerequisites[0]": ["requires 'a' at level 4 but 'a' has max_level 3"]
    }


def test_node_cannot_require_itself():
    found = problems({"nodes": [spec("a", prerequisites=["a"])]})

    assert found == {"nodes[0].prerequisites[0]": ["node 'a' cannot require itself"]}


def test_same_prerequisite_twice_is_refused():
    found = problems(
        {"nodes": [spec("a"), spec("b", prerequisites=["a", {"key": "a", "level": 1}])]}
    )

    assert found == {"nodes[1].prerequisites[1]": ["'a' is listed twice"]}


def test_prerequisite_cycle_is_reported_with_its_path():
    found = problems(
        {
            "nodes": [
                spec("root"),
                spec("a", prerequisites=["root", "c"]),
                spec("b", prerequisites=["a"]),
                spec("c", prerequisites=["b"]),
            ]
        }
    )

    assert found == {"nodes[1] (key 'a')": ["prerequisite cycle: a -> c -> b -> a"]}


def test_each_separate_cycle_is_reported():
    found = problems(
        {
            "nodes": [
                spec("a", prerequisites=["b"]),
                spec("b", prerequisites=["a"]),
                spec("x", prerequisites=["y"]),
                spec("y", prerequisites=["x"]),
            ]
        }
    )

    assert found == {
        "nodes[0] (key 'a')": ["prerequisite cycle: a -> b -> a"],
        "nodes[2] (key 'x')": ["prerequisite cycle: x -> y -> x"],
    }


@pytest.mark.parametrize(
    ("fields", "location", "fragment"),
    [
        ({"tier": -1}, "nodes[0].tier", "greater than or equal to 0"),
        ({"tier": "1"}, "nodes[0].tier", "valid integer"),
        ({"max_level": 0}, "nodes[0].max_level", "greater than or equal to 1"),
        ({"max_level": 101}, "nodes[0].max_level", "less than or equal to 100"),
        ({"key": "Neon"}, "nodes[0].key", "should match pattern"),
        ({"key": "1st"}, "nodes[0].key", "should match pattern"),
        ({"key": "neon-overlay"}, "nodes[0].key", "should match pattern"),
        ({"size": "huge"}, "nodes[0].size", "'small', 'medium' or 'large'"),
        ({"name": "  "}, "nodes[0].name", "at least 1 character"),
        ({"cost": -5}, "nodes[0].cost", "greater than or equal to 0"),
        ({"cost": 2.5}, "nodes[0].cost", "valid integer"),
        ({"auto_unlock": "yes"}, "nodes[0].auto_unlock", "valid boolean"),
        ({"count_rules": ["nodes_unlocked_below:1:2"]}, "nodes[0].count_rules[0]", "is not"),
        ({"count_rules": ["total_nodes_unlocked:-1"]}, "nodes[0].count_rules[0]", "is not"),
        ({"count_rules": ["total_nodes_unlocked:0"]}, "nodes[0].count_rules[0]", "always met"),
        ({"effects": [{"value": 1}]}, "nodes[0].effects[0]", "string `type`"),
        ({"effects": [{"type": 3}]}, "nodes[0].effects[0]", "string `type`"),
        ({"effects": ["neon"]}, "nodes[0].effects[0]", "mapping"),
        (
            {"effects": [{"type": "contribution_multiplier", "value": "10%"}]},
            "nodes[0].effects[0]",
            "numeric `value`",
        ),
        (
            {"effects": [{"type": "contribution_multiplier", "value": -0.1}]},
            "nodes[0].effects[0]",
            "above 0",
        ),
        (
            {"effects": [{"type": "event", "on": datetime.date(2025, 1, 1)}]},
            "nodes[0].effects[0].on",
            "JSON",
        ),
        ({"tier": 60}, "nodes[0] (key 'a')", "too large; give `cost`"),
    ],
)
def test_bad_value_is_reported_at_its_location(fields, location, fragment):
    found = problems({"nodes": [{**spec("a"), **fields}]})

    assert list(found) == [location]
    assert fragment in found[location][0]


def test_count_rule_that_no_tree_could_meet_is_refused():
    found = problems(
        {
            "nodes": [
                spec("a"),
                spec("b", tier=1),
                spec(
                    "c",
                    tier=2,
                    count_rules=["nodes_unlocked_below_tier:2:3", "total_nodes_unlocked:2"],
                ),
            ]
        }
    )

    assert found == {
        "nodes[2].count_rules[0]": [
            "'nodes_unlocked_below_tier:2:3' can never be met: only 2 other node(s) qualify"
        ]
    }


def test_file_that_is_not_a_list_of_nodes_is_refused():
    assert problems({"nodes": "a"}) == {"nodes": ["Input should be a valid list (got 'a')"]}
    assert problems([]) == {"(file)": ["should be a mapping"]}


def test_every_problem_is_reported_together():
    with pytest.raises(InvalidInput) as caught:
        validate_tree(
            {
                "nodes": [
                    spec("a", tier=-1),
                    spec("b", prerequisites=["ghost"], colour="red"),
                    spec("a"),
                    spec("c", prerequisites=["d"], effects=[{}]),
                    spec("d", prerequisites=["c"]),
                ]
            }
        )

    assert caught.value.fields == {
        "nodes[0].tier": ["Input should be greater than or equal to 0 (got -1)"],
        "nodes[1] (key 'b')": ["unknown field 'colour'"],
        "nodes[1].prerequisites[0]": ["unknown node 'ghost'"],
        "nodes[2] (key 'a')": ["duplicate key 'a' (first at nodes[0])"],
        "nodes[3] (key 'c')": ["prerequisite cycle: c -> d -> c"],
        "nodes[3].effects[0]": ["an effect needs a non-empty string `type`"],
    }
    assert caught.value.message == "The tree has 6 problem(s); nothing was written."
    assert caught.value.code == "invalid"


def test_problems_are_listed_in_file_order():
    found = problems(
        {"nodes": [spec(f"n{i}", tier=-1) if i in (2, 10) else spec(f"n{i}") for i in range(12)]}
    )

    assert list(found) == ["nodes[2].tier", "nodes[10].tier"]


def test_node_with_a_bad_field_still_counts_as_a_known_prerequisite():
    found = problems({"nodes": [spec("a", tier=-1), spec("b", prerequisites=["a"])]})

    assert list(found) == ["nodes[0].tier"]


# Files ---------------------------------------------------------------------------------------


def test_yaml_field_given_twice_is_refused_with_its_line():
    text = "nodes:\n  - key: a\n    name: A\n    tier: 0\n    tier: 1\n    size: small\n"

    with pytest.raises(InvalidInput) as caught:
        parse_tree_text(text, fmt="yaml")

    assert caught.value.fields == {"line 5, column 5": ["duplicate field 'tier'"]}


def test_json_field_given_twice_is_refused():
    with pytest.raises(InvalidInput) as caught:
        parse_tree_text('{"nodes": [], "nodes": []}', fmt="json")

    assert caught.value.fields == {"(file)": ["duplicate field 'nodes'"]}


def test_syntax_error_is_reported_with_its_line(tmp_path):
    path = tmp_path / "tree.json"
    path.write_text('{"nodes": [\n  {"key": "a",}\n]}')

    with pytest.raises(InvalidInput) as caught:
        read_tree_file(path)

    assert list(caught.value.fields) == ["line 2, column 15"]


def test_json_tree_file_is_read(tmp_path):
    path = tmp_path / "tree.json"
    path.write_text(json.dumps({"nodes": [spec("a"), spec("b", prerequisites=["a"])]}))

    assert [node.key for node in read_tree_file(path).nodes] == ["a", "b"]


def test_unknown_file_type_is_refused(tmp_path):
    path = tmp_path / "tree.toml"
    path.write_text("")

    with pytest.raises(InvalidInput, match="Unknown tree file type"):
        read_tree_file(path)


# Sync ----------------------------------------------------------------------------------------

BASE = {
    "nodes": [
        spec("emotes", max_level=3),
        spec("overlay", size="medium", cost=120),
        spec("raid", tier=1, prerequisites=["emotes", {"key": "overlay", "level": 1}]),
        spec("charity", tier=2, size="large", prerequisites=[{"key": "emotes", "level": 2}]),
    ]
}


def with_nodes(*nodes):
    return {"nodes": list(nodes)}


@pytest.mark.django_db
def test_first_load_inserts_every_node_and_its_prerequisites(community):
    report = sync_tree(community, BASE)

    assert report == SyncReport(created=("emotes", "overlay", "raid", "charity"))
    assert db_tree(community) == {
        "emotes": ("Emotes", 0, 3, None),
        "overlay": ("Overlay", 0, 1, 120),
        "raid": ("Raid", 1, 1, None),
        "charity": ("Charity", 2, 1, None),
    }
    assert db_prerequisites(community) == {
        ("raid", "emotes", 1),
        ("raid", "overlay", 1),
        ("charity", "emotes", 2),
    }


@pytest.mark.django_db
def test_explicit_cost_is_stored_as_override_and_missing_cost_follows_the_formula(community):
    sync_tree(community, BASE)

    nodes = {node.key: node for node in Node.objects.filter(community=community)}
    assert (nodes["overlay"].cost_override, nodes["overlay"].cost) == (120, 120)
    assert (nodes["charity"].cost_override, nodes["charity"].cost) == (None, 1800)


@pytest.mark.django_db
def test_all_node_fields_are_stored(community):
    sync_tree(
        community,
        with_nodes(
            spec(
                "neon",
                description="Synthwave colours",
                category="overlays",
                auto_unlock=True,
                count_rules=["total_nodes_unlocked:01"],
                effects=[{"type": "overlay_theme", "value": "neon"}],
            ),
            spec("other"),
        ),
    )

    neon = Node.objects.get(community=community, key="neon")
    assert (neon.description, neon.category, neon.auto_unlock) == (
        "Synthwave colours",
        "overlays",
        True,
    )
    assert neon.count_rules == ["total_nodes_unlocked:1"]
    assert neon.effects == [{"type": "overlay_theme", "value": "neon"}]


@pytest.mark.django_db
def test_loading_the_same_tree_twice_changes_nothing(community):
    sync_tree(community, BASE)
    before = list(Node.objects.filter(community=community).values())
    prerequisites = list(Prerequisite.objects.values())

    report = sync_tree(community, BASE)

    assert report == SyncReport(unchanged=("emotes", "overlay", "raid", "charity"))
    assert not report.changed
    assert list(Node.objects.filter(community=community).values()) == before
    assert list(Prerequisite.objects.values()) == prerequisites


@pytest.mark.django_db
def test_changed_node_is_updated_in_place_and_its_prerequisites_replaced(community):
    sync_tree(community, BASE)
    raid_pk = Node.objects.get(community=community, key="raid").pk

    nodes = [dict(node) for node in BASE["nodes"]]
    nodes[2].update(name="Raid Train", prerequisites=[{"key": "emotes", "level": 3}])
    nodes[1].pop("cost")
    report = sync_tree(community, with_nodes(*nodes))

    assert report == SyncReport(updated=("overlay", "raid"), unchanged=("emotes", "charity"))
    raid = Node.objects.get(community=community, key="raid")
    assert (raid.pk, raid.name) == (raid_pk, "Raid Train")
    assert Node.objects.get(community=community, key="overlay").cost_override is None
    assert db_prerequisites(community) == {("raid", "emotes", 3), ("charity", "emotes", 2)}


@pytest.mark.django_db
def test_new_nodes_are_inserted_next_to_existing_ones(community):
    sync_tree(community, BASE)

    report = sync_tree(
        community, with_nodes(*BASE["nodes"], spec("finale", tier=3, prerequisites=["charity"]))
    )

    assert report.created == ("finale",)
    assert report.unchanged == ("emotes", "overlay", "raid", "charity")
    assert ("finale", "charity", 1) in db_prerequisites(community)


@pytest.mark.django_db
def test_node_absent_from_the_file_is_deleted_with_its_prerequisites(community):
    sync_tree(community, BASE)

    report = sync_tree(community, with_nodes(*BASE["nodes"][:3]))

    assert report.removed == ("charity",)
    assert "charity" not in db_tree(community)
    assert ("charity", "emotes", 2) not in db_prerequisites(community)


@pytest.mark.django_db
def test_node_with_unlocks_is_never_deleted(community):
    sync_tree(community, BASE)
    charity = Node.objects.get(community=community, key="charity")
    unlock(charity)

    report = sync_tree(community, with_nodes(*BASE["nodes"][:2]))

    assert report.kept_with_unlocks == ("charity",)
    assert report.removed == ("raid",)
    assert set(db_tree(community)) == {"emotes", "overlay", "charity"}
    assert Unlock.objects.filter(node=charity).count() == 1


@pytest.mark.django_db
def test_node_with_only_relocked_unlocks_is_still_kept(community):
    sync_tree(community, BASE)
    charity = Node.objects.get(community=community, key="charity")
    relocked = unlock(charity)
    relocked.relocked_at = relocked.unlocked_at
    relocked.save()

    report = sync_tree(community, with_nodes(*BASE["nodes"][:3]))

    assert report.kept_with_unlocks == ("charity",)


@pytest.mark.django_db
def test_node_that_is_the_current_target_is_kept(community):
    sync_tree(community, BASE)
    charity = Node.objects.get(community=community, key="charity")
    season = Season.objects.create(community=community, number=1)
    UnlockProgress.objects.create(
        community=community, season=season, node=charity, level=1, cost=1800
    )

    report = sync_tree(community, with_nodes(*BASE["nodes"][:3]))

    assert report.kept_in_use == ("charity",)
    assert report.removed == ()
    assert "charity" in db_tree(community)


@pytest.mark.django_db
def test_invalid_tree_writes_nothing(community):
    sync_tree(community, BASE)
    before = list(Node.objects.filter(community=community).values())

    with pytest.raises(InvalidInput):
        sync_tree(community, with_nodes(spec("brand_new"), spec("emotes", prerequisites=["ghost"])))

    assert list(Node.objects.filter(community=community).values()) == before


@pytest.mark.django_db
def test_sync_touches_only_its_own_community(community):
    other = CommunityFactory()
    sync_tree(other, BASE)

    report = sync_tree(community, with_nodes(spec("emotes")))

    assert report.created == ("emotes",)
    assert set(db_tree(other)) == {"emotes", "overlay", "raid", "charity"}


@pytest.mark.django_db
def test_dry_run_plan_reports_the_changes_without_writing(community):
    NodeFactory(community=community, key="old")

    report = plan_tree(community, BASE)

    assert report.created == ("emotes", "overlay", "raid", "charity")
    assert report.removed == ("old",)
    assert set(db_tree(community)) == {"old"}


@pytest.mark.django_db
def test_tree_change_notifies_the_engine(community, monkeypatch):
    from progression.services import unlocks

    calls = []
    monkeypatch.setattr(unlocks, "on_tree_changed", calls.append)

    sync_tree(community, BASE)
    sync_tree(community, BASE)

    assert calls == [community]  # the unchanged second load is no change


@pytest.mark.django_db
def test_sync_works_without_an_engine_hook(community, monkeypatch):
    from progression.services import unlocks

    monkeypatch.delattr(unlocks, "on_tree_changed")

    assert sync_tree(community, BASE).created


# The command ---------------------------------------------------------------------------------


def write(tmp_path, data, name="tree.yaml"):
    path = tmp_path / name
    path.write_text(json.dumps(data))  # JSON is valid YAML
    return str(path)


@pytest.mark.django_db
def test_load_tree_prints_every_problem_and_fails_without_writing(community, tmp_path, capsys):
    path = write(tmp_path, with_nodes(spec("a", tier=-1), spec("b", prerequisites=["ghost"])))

    with pytest.raises(CommandError, match="2 problem"):
        call_command("load_tree", community.slug, path)

    err = capsys.readouterr().err
    assert "nodes[0].tier: Input should be greater than or equal to 0 (got -1)" in err
    assert "nodes[1].prerequisites[0]: unknown node 'ghost'" in err
    assert not Node.objects.filter(community=community).exists()


@pytest.mark.django_db
def test_load_tree_syncs_and_prints_the_report(community, tmp_path, capsys):
    path = write(tmp_path, BASE, name="tree.json")

    call_command("load_tree", community.slug, path)
    first = capsys.readouterr().out
    call_command("load_tree", community.slug, path)
    second = capsys.readouterr().out

    assert "4 created: emotes, overlay, raid, charity" in first
    assert "4 unchanged" in second and "already up to date" in second
    assert len(db_tree(community)) == 4


@pytest.mark.django_db
def test_load_tree_dry_run_writes_nothing(community, tmp_path, capsys):
    call_command("load_tree", community.slug, write(tmp_path, BASE), "--dry-run")

    assert "4 created" in capsys.readouterr().out
    assert not Node.objects.filter(community=community).exists()


@pytest.mark.django_db
def test_load_tree_refuses_an_unknown_community(tmp_path):
    with pytest.raises(CommandError, match="No community"):
        call_command("load_tree", "nobody", write(tmp_path, BASE))


# The demo tree -------------------------------------------------------------------------------


def test_demo_tree_is_valid_and_big_enough():
    tree = read_tree_file(DEMO)

    assert len(tree.nodes) >= 40
    assert set(Counter(node.tier for node in tree.nodes)) == {0, 1, 2, 3, 4}
    assert sum(3 <= node.max_level <= 5 for node in tree.nodes) >= 3
    assert {node.size for node in tree.nodes} == {"small", "medium", "large"}
    assert sum(node.auto_unlock for node in tree.nodes) == 1
    assert sum(bool(node.count_rules) for node in tree.nodes) >= 2
    effect_types = Counter(effect["type"] for node in tree.nodes for effect in node.effects)
    assert effect_types["contribution_multiplier"] >= 3
    assert {"overlay_theme", "chat_command"} <= set(effect_types)


def test_demo_tree_can_be_unlocked_completely():
    tree = read_tree_file(DEMO)
    nodes = [
        rules.NodeRule(
            key=node.key,
            tier=node.tier,
            max_level=node.max_level,
            prerequisites=tuple((p.key, p.level) for p in node.prerequisites),
            count_rules=tuple(node.count_rules),
        )
        for node in tree.nodes
    ]
    levels: dict[str, int] = {}
    while options := rules.available_options(nodes, levels):
        key, level = options[0]
        levels[key] = level

    assert levels == {node.key: node.max_level for node in tree.nodes}


@pytest.mark.django_db
def test_demo_tree_loads_into_a_community(community):
    report = sync_tree(community, read_tree_file(DEMO))

    assert len(report.created) == Node.objects.filter(community=community).count() >= 40
    assert sync_tree(community, read_tree_file(DEMO)).changed is False
