"""Seeds for the pages' browser tests, screenshots and benchmark: a generated tree of any size
(`generated_tree(200)`: tiers as columns, 1 to 3 prerequisites each from the tier before), and
a community with a tree loaded, its first target chosen and, optionally, a vote open.

Used by tests/browser/, scripts/screenshots.py and scripts/bench/pages.py; nothing in the
application imports it.
"""

from __future__ import annotations

import random
from typing import Any

CATEGORIES = ("chat", "emotes", "overlay", "games", "community")
SIZES = ("small", "medium", "large")


def generated_tree(count: int, *, tiers: int = 10, seed: int = 7) -> dict[str, Any]:
    """A valid tree of `count` nodes spread over `tiers` tiers (deterministic for a seed)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    per_tier = [count // tiers + (1 if t < count % tiers else 0) for t in range(tiers)]
    nodes: list[dict[str, Any]] = []
    previous: list[str] = []
    number = 0
    for tier, size in enumerate(per_tier):
        current = []
        for _ in range(size):
            number += 1
            key = f"n{number:03d}"
            node: dict[str, Any] = {
                "key": key,
                "name": f"Upgrade {number}",
                "description": f"Generated node {number} in tier {tier}.",
                "category": CATEGORIES[number % len(CATEGORIES)],
                "tier": tier,
                "size": SIZES[number % len(SIZES)],
                "max_level": 3 if number % 7 == 0 else 1,
            }
            if previous:
                node["prerequisites"] = sorted(
                    rng.sample(previous, k=min(len(previous), rng.randint(1, 3)))
                )
            nodes.append(node)
            current.append(key)
        previous = current
    return {"nodes": nodes}


def seed_community(
    slug: str,
    *,
    name: str = "",
    tree: dict[str, Any] | None = None,
    visibility: str = "public",
    open_vote: bool = False,
    unlocked: tuple[str, ...] = (),
) -> Any:
    """A community with `tree` (the demo tree by default) loaded, the nodes `unlocked` unlocked
    by a moderator before the first target is chosen (so the vote for what comes next opens
    with options numbered 1..n), its first target chosen and, if asked, a vote open for what
    comes next. Needs Django set up."""
    from django.conf import settings

    from communities import services
    from progression.services import admin_actions, voting
    from progression.services.tree import sync_tree
    from progression.services.unlocks import ensure_target
    from progression.tree_schema import read_tree_file

    community = services.create_community(
        slug=slug, name=name or slug.replace("-", " ").title(), visibility=visibility
    )
    spec = (
        tree
        if tree is not None
        else read_tree_file(settings.BASE_DIR / "progression" / "demo" / "tree.yaml")
    )
    sync_tree(community, spec)
    if unlocked:
        ensure_target(community.pk)
        for key in unlocked:
            admin_actions.force_unlock(community, key, by="demo")
    voting.choose_first_target(community)
    if open_vote and voting.open_session(community.pk) is None:
        voting.start_vote(community)
    return community


# --- a seeded demo on its own SQLite file, and a server for it (screenshots, benchmark) ------

VIEWER = "viewer"
VIEWER_PASSWORD = "progression-viewer-42"  # noqa: S105 - the local demo's password, printed
STREAMER = "streamer"  # the demo's owner: the moderator console's screenshots sign in as it


def demo_env(sqlite_path: str) -> dict[str, str]:
    """The embedded default (no DATABASE_URL/REDIS_URL) on `sqlite_path`, in DEBUG."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DEBUG="1",
        SQLITE_PATH=sqlite_path,
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def seed_showcase() -> None:
    """What the screenshots and the benchmark show: the demo tree mid-way (a few unlocks, a
    leaderboard, a vote open with votes), a 200-node tree, a private community and a viewer."""
    from django.contrib.auth import get_user_model

    from progression.services import voting
    from progression.services.engagement import EngagementEvent, record_engagement

    demo = seed_community(
        "demo", name="Demo Stream", unlocked=("emote_slots", "hype_command", "lurk_command")
    )
    names = ["Ann", "Bo", "Chloe", "Dev", "Eli", "Fay", "Gus"]
    events = [
        EngagementEvent(
            index=i,
            platform_user_id=name.lower(),
            display_name=name,
            metric="message",
            value=1,
            message_id=f"seed-{i}",
        )
        # 33 points: below any first target's cost, so no unlock races the votes below.
        for i, name in enumerate(
            n for n, count in zip(names, (9, 7, 6, 5, 3, 2, 1), strict=True) for _ in range(count)
        )
    ]
    record_engagement(demo, events)
    voting.open_session(demo.pk) or voting.start_vote(demo)
    for i, voter in enumerate(["ann", "bo", "chloe", "dev", "eli"]):
        voting.cast_vote(demo, voter=f"viewer:{voter}", option=1 + i % 2)
    seed_demo_event(demo)
    seed_demo_board(demo)
    seed_community("big-tree", name="Two Hundred Nodes", tree=generated_tree(200))
    seed_community("backstage", name="Backstage (private)", visibility="private")
    for suffix in ("", "-phone"):
        get_user_model().objects.create_user(VIEWER + suffix, password=VIEWER_PASSWORD)
    from communities.models import Role
    from communities.services import create_api_token, create_overlay_key, set_membership

    streamer = get_user_model().objects.create_user(STREAMER, password=VIEWER_PASSWORD)
    set_membership(community=demo, user=streamer, role=Role.OWNER)
    create_api_token(community=demo, name="chat bot", scopes=["ingest", "vote"])
    create_overlay_key(community=demo, name="OBS main scene")


def seed_demo_board(community: Any) -> None:
    """A few proposals on the board, as the generate_proposals job and moderators leave them."""
    from jobs.suggestions_models import Proposal

    cards = {
        "new": [("Lurk counter on the overlay", 4, 0.58), ("Emote wall for subs", 3, 0.47)],
        "shortlisted": [("Speedrun Sunday", 7, 0.74)],
        "accepted": [("Community cookbook", 9, 0.81), ("Chat-picked game night", 6, 0.69)],
        "rejected": [("Delete the tree", 1, 0.22)],
    }
    for column, rows in cards.items():
        for position, (title, supporters, confidence) in enumerate(rows):
            Proposal.objects.create(
                community=community,
                column=column,
                position=position,
                title=title,
                summary=f"{supporters} viewers asked for this: “{title.lower()}”.",
                supporters=supporters,
                suggestion_count=supporters + 2,
                confidence=confidence,
                sample_quotes=[{"text": f"pls add {title.lower()}!!", "by": "ann"}],
            )


def seed_demo_event(community: Any) -> Any:
    """The demo bake-along (events_app/demo/bake_along.yaml, as `seed_demo` loads it) under
    way: cookies mostly baked, bracelets done (a target over 100 %), a few gift boxes packed and
    one delivery ready."""
    from communities.management.commands.seed_demo import load_demo_event
    from events_app.models import Event
    from events_app.services import deliveries, runs

    load_demo_event(community)
    event = Event.objects.get(community=community)
    runs.record_production_run(community, event.pk, "cookies", batches=7, recorded_by="ann")
    runs.record_production_run(community, event.pk, "bracelets", batches=6, recorded_by="bo")
    runs.record_assembly_run(community, event.pk, "gift box", quantity=8, recorded_by="chloe")
    first = event.deliveries.order_by("pk")[0]
    deliveries.advance_delivery(community, event.pk, first.pk, status="ready")
    return event


def prepare(sqlite_path: str) -> dict[str, str]:
    """A fresh SQLite file, migrated and seeded; returns the environment to serve it with."""
    import subprocess
    import sys
    from pathlib import Path

    for suffix in ("", "-wal", "-shm"):
        Path(sqlite_path + suffix).unlink(missing_ok=True)
    env = demo_env(sqlite_path)
    root = Path(__file__).resolve().parent.parent
    code = "import django; django.setup(); from scripts.demo_pages import seed_showcase; seed_showcase()"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=root, env={**env, "PYTHONPATH": str(root)}, check=True
    )
    return env


class Server:
    """uvicorn serving config.asgi on a free port with `env`; stop() ends it (by its pid)."""

    def __init__(self, env: dict[str, str]) -> None:
        import socket
        import subprocess
        import sys
        import time
        from pathlib import Path

        import httpx

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        root = Path(__file__).resolve().parent.parent
        self.popen = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=root,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the demo server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)
