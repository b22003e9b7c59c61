"""The realtime backbone. Writers call `realtime.publish(...)` inside their transaction."""

from typing import Any


def publish(community: Any, topic: str, type: str, data: Any, *, coalesce_key: str = "") -> Any:
    from realtime.services import publish as _publish

    return _publish(community, topic, type, data, coalesce_key=coalesce_key)


def publish_snapshot(community: Any, topic: str, type: str, read: Any) -> Any:
    """A coalesced snapshot event whose state is read under the stream lock (commit order)."""
    from realtime.services import publish_snapshot as _publish_snapshot

    return _publish_snapshot(community, topic, type, read)


def lock_stream(community_id: int) -> None:
    """Takes the community's stream lock now, at the start of a transaction that will publish
    after locking other rows: every writer then locks the stream row first and those rows
    after, one order, so two writers can never deadlock on them."""
    from realtime.services import _lock_stream

    _lock_stream(community_id)


def try_lock_stream(community_id: int) -> bool:
    """Takes the community's stream lock if no other transaction holds it, without waiting:
    False if one does. For a writer whose event may wait for a later one (a coalesced
    progress event): rather than queue behind the stream, it writes without publishing."""
    from realtime.services import _try_lock_stream

    return _try_lock_stream(community_id)
