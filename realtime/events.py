"""Event types the stream itself emits (not stored in the outbox)."""

STREAM_RESET = "stream.reset"  # the asked-for id is older than the retention: refetch snapshots
STREAM_OVERFLOW = "stream.overflow"  # the client fell too far behind; reconnect with last id
STREAM_REVOKED = "stream.revoked"  # access to some topics was withdrawn
STREAM_SHUTDOWN = "stream.shutdown"  # the server is restarting; reconnect with last id
STREAM_READY = "stream.ready"  # WebSocket: subscription accepted (topics, cursor)
