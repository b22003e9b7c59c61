"""Prometheus metrics of engagement ingest (served by /metrics with the realtime ones)."""

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "engagement_events_total",
    "Engagement events by outcome: accepted, duplicate, rate_limited, invalid",
    ["outcome"],
)
POINTS = Counter("engagement_points_total", "Points credited")
GROUP_WRITES = Counter("ingest_group_writes_total", "Group writes run by the ingest queue")
GROUP_REQUESTS = Counter("ingest_group_requests_total", "Requests carried by group writes")
REFUSED = Counter(
    "ingest_refused_total", "Requests answered 429 overloaded: too many already waiting"
)
WRITE_SECONDS = Histogram(
    "ingest_write_seconds",
    "Duration of one group write (every community in it)",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

OUTCOMES = {
    name: EVENTS.labels(outcome=name)
    for name in ("accepted", "duplicate", "rate_limited", "invalid")
}
