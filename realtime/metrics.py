"""Prometheus metrics of the realtime backbone.

Per process, unless PROMETHEUS_MULTIPROC_DIR is set (the web process's gunicorn sets it for
its workers): then every process writes its values there and /metrics adds them up, so one scrape of the
port counts every process. Gauges say how they combine.
"""

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge(
    "stream_connections", "Open stream connections", ["transport"], multiprocess_mode="livesum"
)
EVENTS_PUBLISHED = Counter(
    "stream_events_published_total", "Events committed and fanned out", ["topic"]
)
EVENTS_DELIVERED = Counter(
    "stream_events_delivered_total", "Events written to clients", ["transport"]
)
EVENTS_COALESCED = Counter(
    "stream_events_coalesced_total", "Progress events replaced by a newer one"
)
EVENTS_DROPPED = Counter(
    "stream_events_dropped_total", "Events not delivered because a client overflowed", ["transport"]
)
OVERFLOWS = Counter("stream_overflows_total", "Clients closed with stream.overflow", ["transport"])
EVENTS_RELAYED = Counter("stream_events_relayed_total", "Events the relay had to resend")
PUBLISH_FAILURES = Counter("stream_publish_failures_total", "Fan-out sends that failed")
STREAM_FAILURES = Counter("stream_failures_total", "Streams that ended on an error", ["transport"])
REPLAYS = Counter(
    "stream_replays_total", "Connections that resumed from a last event id", ["transport"]
)
REPLAYED_EVENTS = Counter("stream_replayed_events_total", "Events sent from the outbox on resume")
CATCH_UPS = Counter("stream_gap_catch_ups_total", "Live gaps filled from the outbox")
RESETS = Counter("stream_resets_total", "Resumes older than the retention (stream.reset sent)")
OUTBOX_LAG = Gauge(
    "stream_outbox_lag_seconds",
    "Age of the oldest event not yet fanned out",
    multiprocess_mode="mostrecent",
)
OUTBOX_PENDING = Gauge(
    "stream_outbox_pending",
    "Events committed but not yet fanned out",
    multiprocess_mode="mostrecent",
)
DELIVERY_LATENCY = Histogram(
    "stream_delivery_latency_seconds",
    "Commit-to-hub latency of live events",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


_bound: dict[str, tuple] = {}


def for_transport(transport: str) -> tuple:
    """The per-transport metric children, looked up once (labels() is costly per event)."""
    children = _bound.get(transport)
    if children is None:
        children = _bound[transport] = (
            CONNECTIONS.labels(transport=transport),
            REPLAYS.labels(transport=transport),
            EVENTS_DELIVERED.labels(transport=transport),
            OVERFLOWS.labels(transport=transport),
            EVENTS_DROPPED.labels(transport=transport),
        )
    return children
