"""manage.py load_event: every problem reported with its location, nothing written unless the
whole file is valid; loading the same file twice changes nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from events_app.models import AssemblyTarget, Bundle, Delivery, Event, Item, ProductionTarget
from realtime.models import OutboxEvent

pytestmark = pytest.mark.django_db
DEMO = Path(__file__).resolve().parents[2] / "events_app" / "demo" / "bake_along.yaml"


def load(community, path) -> str:
    out = StringIO()
    call_command("load_event", community.slug, str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_demo_file_sets_up_the_whole_event(community):
    load(community, DEMO)

    event = Event.objects.get(community=community)
    assert (event.name, event.status) == ("Winter bake-along", "live")
    assert {i.name: i.yield_per_batch for i in Item.objects.all()} == {
        "cookies": 12,
        "bracelets": 4,
    }
    box = Bundle.objects.get(name="gift box")
    assert dict(box.components.values_list("item__name", "quantity")) == {
        "cookies": 6,
        "bracelets": 1,
    }
    assert dict(ProductionTarget.objects.values_list("item__name", "target_batches")) == {
        "cookies": 10,
        "bracelets": 5,
    }
    assert AssemblyTarget.objects.get().target_quantity == 20
    assert Delivery.objects.count() == 2


def test_loading_the_same_file_twice_changes_nothing_the_second_time(community):
    load(community, DEMO)
    before = (OutboxEvent.objects.count(), Event.objects.get().updated_at)

    second = load(community, DEMO)

    assert "already up to date" in second
    assert "0 created" in second and "0 updated" in second
    assert (OutboxEvent.objects.count(), Event.objects.get().updated_at) == before
    assert Delivery.objects.count() == 2 and Item.objects.count() == 2


def test_a_changed_file_updates_only_what_changed(community, tmp_path):
    load(community, DEMO)
    changed = tmp_path / "event.yaml"
    changed.write_text(DEMO.read_text().replace("cookies: 10", "cookies: 12"))

    out = load(community, changed)

    assert "1 updated: production target cookies" in out
    assert ProductionTarget.objects.get(item__name="cookies").target_batches == 12


def test_every_problem_is_reported_with_its_location_and_nothing_is_written(community, tmp_path):
    bad = {
        "event": {"name": "Broken", "starts_on": "2026-12-05", "ends_on": "2026-12-01"},
        "items": [{"name": "cookies", "yield_per_batch": 0}, {"name": "jam"}, {"name": "jam"}],
        "bundles": [
            {"name": "box", "components": {"jam": 1}},
            {"name": "crate", "components": {"jam": 2, "cookies": 1}},
            {"name": "odd", "components": {"ghosts": 1}},
        ],
        "production_targets": {"flour": 2},
        "assembly_targets": {"hamper": 1},
        "deliveries": [{"recipient": "x", "bundle": "nope"}],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("load_event", community.slug, str(path), stdout=StringIO(), stderr=err)

    lines = err.getvalue().splitlines()
    assert any(line.startswith("items[0].yield_per_batch:") for line in lines), lines
    assert not Item.objects.exists() and not Event.objects.exists()

    # Once the shapes are right, the cross-references are all reported together.
    bad["items"] = [{"name": "cookies"}, {"name": "jam"}, {"name": "jam"}]
    path.write_text(json.dumps(bad))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("load_event", community.slug, str(path), stdout=StringIO(), stderr=err)
    lines = set(err.getvalue().splitlines())
    assert {
        "event.ends_on: is before starts_on",
        "items[2].name: 'jam' is listed twice",
        "bundles[2].components.ghosts: unknown item",
        "production_targets.flour: unknown item",
        "assembly_targets.hamper: unknown bundle",
        "deliveries[0].bundle: unknown bundle",
    } <= lines, lines
    assert not Item.objects.exists() and not Bundle.objects.exists()
    assert not Event.objects.exists() and not OutboxEvent.objects.exists()


def test_a_yaml_syntax_error_is_located(community, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("event:\n  name: [unclosed\n")
    err = StringIO()
    with pytest.raises(CommandError, match="event file"):
        call_command("load_event", community.slug, str(path), stdout=StringIO(), stderr=err)
    assert "line" in err.getvalue()


def test_an_unknown_community_is_refused(db):
    with pytest.raises(CommandError, match="No community"):
        call_command("load_event", "nobody", str(DEMO), stdout=StringIO())
