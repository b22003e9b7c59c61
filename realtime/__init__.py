"""The realtime backbone. Writers call `realtime.publish(...)` inside their transaction."""

from typing import Any


def publish(community: Any, topic: str, type: str, data: Any, *, coalesce_key: str = "") -> Any:
    from realtime.services import publish as _publish

    return _publish(community, topic, type, data, coalesce_key=coalesce_key)


def publish_snapshot(community: Any, topic: str, type: str, read: Any) -> Any:
    """A coalesced snapshot event whose state is read under the stream lock (commit order)."""
    from realtime.services import publish_snapshot as _publish_snapshot

    return _publish_snapshot(community, topic, type, read)
