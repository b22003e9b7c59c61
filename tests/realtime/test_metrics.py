"""GET /metrics: this process's stream counters in the Prometheus text format."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from realtime.models import OutboxEvent
from tests.realtime.asgi_client import get_stream
from tests.realtime.helpers import FanoutRecorder, publish_committed, until

pytestmark = pytest.mark.django_db(transaction=True)


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_metrics_are_prometheus_text_with_stream_connections_and_events_published(
    client, community, fanout_recorder
):
    before = sample(scrape(client), "stream_events_published_total", topic="board")

    publish_committed(community, "board", "board.card.moved")
    text = scrape(client)

    assert "# TYPE stream_connections gauge" in text
    assert "stream_events_published_total" in text
    assert sample(text, "stream_events_published_total", topic="board") == before + 1
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "stream_events_delivered",
        "stream_events_coalesced",
        "stream_events_dropped",
        "stream_outbox_lag_seconds",
        "stream_replays",
    } <= families


def test_metrics_report_the_outbox_backlog_and_its_age(client, community, monkeypatch):
    monkeypatch.setattr("realtime.fanout.send", FanoutRecorder(delivered=False))
    row = publish_committed(community)
    OutboxEvent.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=30))

    text = scrape(client)

    assert sample(text, "stream_outbox_pending") == 1
    assert sample(text, "stream_outbox_lag_seconds") >= 30


def test_metrics_need_the_token_when_one_is_configured(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"

    refused = client.get("/metrics")
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert allowed.status_code == 200


@pytest.mark.asyncio
@pytest.mark.usefixtures("hub")
async def test_open_sse_stream_is_counted_in_stream_connections_until_it_ends(community):
    client = AsyncClient()

    async def connections() -> float:
        response = await client.get("/metrics")
        return sample(response.content.decode(), "stream_connections", transport="sse")

    async def eventually(expected: float) -> float:
        for _ in range(50):
            if (seen := await connections()) == expected:
                break
            await asyncio.sleep(0.02)
        return seen

    idle = await connections()
    stream = await get_stream(community.slug)
    await until(lambda: stream.chunks)
    assert await eventually(idle + 1) == idle + 1
    await stream.disconnect()
    assert await eventually(idle) == idle
