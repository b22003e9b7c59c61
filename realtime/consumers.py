"""WebSocket stream: /ws/communities/<slug>/ with the same envelopes and ids as SSE.

The client sends {"action": "subscribe", "topics": [...], "last_event_id": n}; then
{"action": "ping"} whenever it likes (answered with {"type": "pong"}). A refusal is an error
frame (the API's error body), then a close with 4000 + the HTTP status and the message as
reason: 4400/4401/4403/4404/4429.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from communities.errors import CommunityNotFound, NotAllowed
from config.edge import error_answer, path_is_clean, scope_headers
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
        headers = scope_headers(self.scope)
        try:
            if not path_is_clean(self.scope.get("path", "")):
                raise CommunityNotFound(self.slug)
            topics = parse_topics(content.get("topics"))
            resume_from = parse_last_event_id(content.get("last_event_id"))
            user = self.scope.get("user")
            has_session = bool(user is not None and user.is_authenticated)
            if not headers.get("authorization") and has_session:
                if not _origin_allowed(headers.get("origin")):
                    raise NotAllowed("Cross-site WebSocket with a session is refused.")
            grant = await grant_stream(self.scope, self.slug, user, topics)
        except Exception as exc:  # noqa: BLE001 - every refusal closes with its code and reason
            await self._refuse(exc)
            return
        if self.stream_task is not None:
            self.stream_task.cancel()
        connection = open_stream(grant, WebSocketTransport(self))
        await self.send_json({"type": "stream.ready", "data": {"topics": sorted(grant.topics)}})
        self.stream_task = asyncio.ensure_future(self._run(connection, resume_from))

    async def _refuse(self, exc: BaseException) -> None:
        """Close with 4000 + the HTTP status and the reason, after the same reason as a JSON
        frame (the error body of every edge): some servers (Daphne) drop close reasons."""
        status, body, _ = error_answer(exc, f"websocket of {self.slug}")
        await self.send_json({"type": "error", **body})
        await self.close(code=4000 + status, reason=_close_reason(body["error"]["message"]))

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


def _close_reason(message: str) -> str:
    """A close frame holds 123 bytes of UTF-8 reason at most."""
    return message.encode()[:123].decode(errors="ignore")


def _origin_allowed(origin: str | None) -> bool:
    if not origin:
        return True  # not a browser: a cookie-less bot, or same-process test clients
    host = urlsplit(origin).hostname or ""
    return validate_host(host, settings.ALLOWED_HOSTS)
