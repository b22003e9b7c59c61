"""ASGI guard for /api/: a request body larger than API_MAX_BODY_BYTES is refused with 413 as
it arrives, whether or not the client sent Content-Length (chunked uploads included), before
Django buffers it."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.edge import body_too_large_body, send_json


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
            await _send_413(send)


async def _send_413(send: Any) -> None:
    await send_json(send, 413, body_too_large_body(), close=True)
