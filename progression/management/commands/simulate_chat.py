"""Drive the real HTTP API with simulated chat, as a bot would."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from argparse import ArgumentParser
from collections import Counter
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError

from communities.errors import NotFound
from communities.selectors import get_community
from communities.services import create_api_token, revoke_api_token

METRICS = [
    ("message", 1, 0.85),
    ("command", 1, 0.08),
    ("follow", 1, 0.03),
    ("cheer", 100, 0.02),
    ("subscription", 1, 0.02),
]


class Command(BaseCommand):
    help = "Send simulated chat engagement to a running server through the HTTP API."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("community")
        parser.add_argument("--rate", type=float, default=20.0, help="events per second")
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--viewers", type=int, default=50)
        parser.add_argument("--batch", type=int, default=1, help="events per request")
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--token", default="", help="an ingest token (default: a temporary one)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            community = get_community(opts["community"])
        except NotFound as exc:
            raise CommandError(exc.message) from None
        issued = None
        token = opts["token"]
        if not token:
            issued = create_api_token(community=community, name="simulate_chat", scopes=["ingest"])
            token = issued.secret
        try:
            counts, elapsed = asyncio.run(self._run(community.slug, token, opts))
        finally:
            if issued is not None:
                revoke_api_token(issued.token)
        sent = sum(counts.values())
        self.stdout.write(
            f"sent {sent} events in {elapsed:.1f}s ({sent / elapsed:.0f}/s): "
            + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        )

    async def _run(self, slug: str, token: str, opts: dict) -> tuple[Counter, float]:
        url = f"{opts['url'].rstrip('/')}/api/communities/{slug}/engagement"
        viewers = [f"sim-{i}" for i in range(opts["viewers"])]
        counts: Counter = Counter()
        interval = opts["batch"] / opts["rate"]
        deadline = time.monotonic() + opts["seconds"]
        started = time.monotonic()
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            pending = set()
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                pending.add(
                    asyncio.create_task(self._send(client, url, viewers, opts["batch"], counts))
                )
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                pending = {t for t in pending if not t.done()}
            if pending:
                await asyncio.gather(*pending)
        return counts, time.monotonic() - started

    async def _send(
        self, client: httpx.AsyncClient, url: str, viewers: list[str], batch: int, counts: Counter
    ) -> None:
        events = []
        for _ in range(batch):
            metric, value, _w = random.choices(METRICS, weights=[m[2] for m in METRICS])[0]  # noqa: S311
            viewer = random.choice(viewers)  # noqa: S311
            events.append(
                {
                    "platform_user_id": viewer,
                    "display_name": viewer,
                    "metric": metric,
                    "value": value,
                    "message_id": uuid.uuid4().hex,
                }
            )
        try:
            response = await client.post(url, json={"events": events})
        except httpx.HTTPError as exc:
            counts[f"error:{type(exc).__name__}"] += batch
            return
        if response.status_code == 200:
            for result in response.json()["results"]:
                counts[result["status"]] += 1
        else:
            counts[f"http_{response.status_code}"] += batch
