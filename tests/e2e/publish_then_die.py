"""A writer that commits an event and dies before fanning it out.

Run as `python -m tests.e2e.publish_then_die <community_id> <marker>`: the fan-out that runs
after commit is replaced by `os._exit(DIED_AFTER_COMMIT)`, so the row is committed in the
outbox but nothing was sent. Only the relay can deliver it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DIED_AFTER_COMMIT = 17


def _die(messages: Any) -> bool:
    os._exit(DIED_AFTER_COMMIT)


def main(community_id: int, marker: str) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import transaction

    import realtime
    from communities.models import Community
    from realtime import fanout

    fanout.send = _die
    community = Community.objects.get(pk=community_id)
    with transaction.atomic():
        realtime.publish(community, "progression", "progression.node.unlocked", {"marker": marker})
    return 1  # reached only if nothing ran the fan-out after commit


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2]))
