"""The benchmark's writer process: creates the community, then publishes like application code.

    python scripts/bench/publisher.py setup --slug bench-x
    python scripts/bench/publisher.py publish --slug bench-x --rate 10 --seconds 20

`publish` calls `realtime.publish` inside `transaction.atomic()`, one event per transaction, on
an absolute schedule (event i is due at start + i / rate, so a slow commit does not slow the
rate). Each event's data carries `t`, the wall-clock time taken just before its transaction
opens: receive time - t is the whole publish-to-receive path (lock the stream row, insert the
outbox row, commit, fan out over Redis after commit, server hub, client socket). The commit
and the after-commit send are timed too, so a slow publisher shows apart from a slow server.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from communities.models import Community

ROOT = Path(__file__).resolve().parents[2]


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def cmd_setup(args: argparse.Namespace) -> dict:
    from communities.models import Community, Visibility
    from communities.services import create_community

    community = Community.objects.filter(slug=args.slug).first() or create_community(
        slug=args.slug, name=f"Benchmark {args.slug}", visibility=Visibility.PUBLIC
    )
    return {"slug": community.slug, "id": community.pk, "visibility": community.visibility}


def warm_up(community: Community) -> None:
    """First-use costs (connection, imports, query compilation) stay out of event 0's time:
    the timed path is exercised once without publishing anything."""
    from django.db import transaction

    from realtime import fanout, services

    with transaction.atomic():
        services._lock_stream(community.pk)
    fanout.is_local()


def cmd_publish(args: argparse.Namespace) -> dict:
    from django.db import transaction

    import realtime
    from communities.models import Community

    community = Community.objects.get(slug=args.slug)
    warm_up(community)
    count = int(round(args.rate * args.seconds))
    ids: list[int] = []
    publish_ms: list[float] = []  # t -> after commit and after-commit fan-out returned
    late_ms: list[float] = []  # how far behind schedule each event started
    padding = "x" * args.payload_bytes
    start = time.perf_counter() + 0.05
    for seq in range(count):
        due = start + seq / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        late_ms.append(max(0.0, (time.perf_counter() - due) * 1000))
        t = time.time()
        data: dict = {"t": t, "seq": seq}
        if padding:
            data["pad"] = padding
        with transaction.atomic():
            row = realtime.publish(community, "progression", "bench.tick", data)
        publish_ms.append((time.time() - t) * 1000)
        ids.append(row.event_id)
    publish_ms.sort()
    return {
        "ids": ids,
        "count": count,
        "elapsed_s": round(time.perf_counter() - start, 3),
        "publish_p50_ms": round(publish_ms[len(publish_ms) // 2], 2),
        "publish_p99_ms": round(
            publish_ms[min(len(publish_ms) - 1, int(len(publish_ms) * 0.99))], 2
        ),
        "publish_max_ms": round(publish_ms[-1], 2),
        "behind_schedule_max_ms": round(max(late_ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="benchmark publisher")
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup")
    setup.add_argument("--slug", required=True)
    publish = sub.add_parser("publish")
    publish.add_argument("--slug", required=True)
    publish.add_argument("--rate", type=float, default=10.0)
    publish.add_argument("--seconds", type=float, default=20.0)
    publish.add_argument("--payload-bytes", type=int, default=0)
    args = parser.parse_args()
    setup_django()
    result = cmd_setup(args) if args.command == "setup" else cmd_publish(args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
