"""WebSocket stream: /ws/communities/<slug>/ with the same envelopes and ids as SSE.

The client sends {"action": "subscribe", "topics": [...], "last_event_id": n}; then
{"action": "ping"} whenever it likes (answered with {"type": "pong"}). Refusals close the
socket with 4400/4401/4403/4404 and a reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from communities.errors import ApplicationError, NotAllowed
from realtime import metrics
from realtime.access import grant_stream, open_stream, parse_last_event_id, parse_topics
from realtime.connection import StreamConnection

logger = logging.getLogger(__name__)
CLOSE_CODES = {"overflow": 4008, "revoked": 4403, "shutdown": 1012}


class WebSocketTransport:
    name = "websocket"

    def __init__(self, consumer: StreamConsumer) -> None:
        self.consumer = consumer

    async def write_events(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await self.consumer.send(text_data=message["payload"])

    async def write_control(self, type: str, data: dict[str, Any], event_id: int | None) -> None:
        body: dict[str, Any] = {"type": type, "data": data}
        if event_id is not None:
            body["id"] = event_id
        await self.consumer.send_json(body)

    async def write_keepalive(self) -> None:
        await self.consumer.send_json({"type": "stream.ping"})


class StreamConsumer(AsyncJsonWebsocketConsumer):
    # The process-wide hub listens on the channel layer; a consumer needs no channel of its own.
    channel_layer_alias = "__hub_only__"

    async def connect(self) -> None:
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        self.stream_task: asyncio.Task | None = None
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action == "ping":
            await self.send_json({"type": "pong"})
        elif action == "subscribe":
            await self._subscribe(content)
        else:
            await self.send_json(
                {"type": "error", "error": {"code": "invalid", "message": "Unknown action."}}
            )

    async def _subscribe(self, content: dict[str, Any]) -> None:
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]
        }
        try:
            topics = parse_topics(content.get("topics"))
            resume_from = parse_last_event_id(content.get("last_event_id"))
            authorization = headers.get("authorization")
            user = self.scope.get("user")
            has_session = bool(user is not None and user.is_authenticated)
            if not authorization and has_session and not _origin_allowed(headers.get("origin")):
                raise NotAllowed("Cross-site WebSocket with a session is refused.")
            grant = await grant_stream(self.slug, authorization, self.scope.get("user"), topics)
        except ApplicationError as exc:
            await self.close(code=4000 + exc.status, reason=exc.message[:120])
            return
        if self.stream_task is not None:
            self.stream_task.cancel()
        connection = open_stream(grant, WebSocketTransport(self))
        await self.send_json({"type": "stream.ready", "data": {"topics": sorted(grant.topics)}})
        self.stream_task = asyncio.ensure_future(self._run(connection, resume_from))

    async def _run(self, connection: StreamConnection, resume_from: int | None) -> None:
        try:
            reason = await connection.run(resume_from)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.STREAM_FAILURES.labels(transport="websocket").inc()
            logger.error("websocket stream failed community=%s", self.slug, exc_info=True)
            await self.close(code=1011)
            return
        await self.close(code=CLOSE_CODES.get(reason, 1000), reason=reason)

    async def disconnect(self, code: int) -> None:
        if self.stream_task is not None:
            self.stream_task.cancel()


def _origin_allowed(origin: str | None) -> bool:
    if not origin:
        return True  # not a browser: a cookie-less bot, or same-process test clients
    host = urlsplit(origin).hostname or ""
    return validate_host(host, settings.ALLOWED_HOSTS)
