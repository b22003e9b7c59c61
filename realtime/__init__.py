"""The realtime backbone. Writers call `realtime.publish(...)` inside their transaction."""

from typing import Any


def publish(community: Any, topic: str, type: str, data: Any, *, coalesce_key: str = "") -> Any:
    from realtime.services import publish as _publish

    return _publish(community, topic, type, data, coalesce_key=coalesce_key)
