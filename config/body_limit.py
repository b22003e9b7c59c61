"""ASGI guard for /api/: a request body larger than API_MAX_BODY_BYTES is refused with 413 as
it arrives, whether or not the client sent Content-Length (chunked uploads included), before
Django buffers it."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/api/"):
            await self.app(scope, receive, send)
            return
        limit = settings.API_MAX_BODY_BYTES
        received = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await _send_413(send, limit)


async def _send_413(send: Any, limit: int) -> None:
    body = json.dumps(
        {"error": {"code": "body_too_large", "message": f"Request body exceeds {limit} bytes."}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
