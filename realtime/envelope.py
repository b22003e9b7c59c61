"""The event envelope, identical on every transport: id, type, topic, community, occurred_at, data."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def build_envelope(
    *, event_id: int, type: str, topic: str, community: str, occurred_at: datetime, data: Any
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type,
        "topic": topic,
        "community": community,
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def sse_frame(event_id: int | None, type: str, payload: str) -> bytes:
    """One SSE message. `payload` is single-line JSON, so one `data:` line suffices."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {type}\ndata: {payload}\n\n".encode()
