"""A raw ASGI HTTP client for streaming responses (HttpCommunicator waits for the whole body)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.test import Client

from config.asgi import application
from tests.realtime.helpers import until


def session_cookie(user) -> str:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


class StreamingResponse:
    def __init__(self, path: str, query: dict[str, str], headers: dict[str, str]) -> None:
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": urlencode(query).encode(),
            "headers": [(b"host", b"testserver")]
            + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.finished = False
        self.task: asyncio.Task | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.finished = not message.get("more_body", False)

    async def start(self) -> StreamingResponse:
        await self.inbox.put({"type": "http.request", "body": b"", "more_body": False})
        self.task = asyncio.ensure_future(application(self.scope, self.inbox.get, self._send))
        await until(lambda: self.status is not None or self.task.done(), what="response start")
        if self.task.done():
            self.task.result()
        return self

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()

    def json(self) -> Any:
        return json.loads(self.text)

    def frames(self) -> list[dict[str, str]]:
        """Complete SSE messages (blank-line separated) as field -> value, comments dropped."""
        complete = self.text.rsplit("\n\n", 1)[0] if "\n\n" in self.text else ""
        frames = []
        for block in complete.split("\n\n"):
            fields = {}
            for line in block.split("\n"):
                if line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
            if fields:
                frames.append(fields)
        return frames

    def event_ids(self) -> list[int]:
        return [
            int(f["id"])
            for f in self.frames()
            if "data" in f and "." in f.get("event", "") and not f["event"].startswith("stream.")
        ]

    async def wait_for_ids(self, *ids: int, timeout: float = 5.0) -> None:
        await until(
            lambda: set(ids) <= set(self.event_ids()) or self.finished,
            timeout,
            f"events {ids} on the SSE stream; got {self.text!r}",
        )

    async def finish(self, timeout: float = 5.0) -> None:
        """Waits for the server to end the response on its own (errors, shutdown)."""
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout)

    async def disconnect(self) -> None:
        assert self.task is not None
        await self.inbox.put({"type": "http.disconnect"})
        await asyncio.wait_for(self.task, 5)


async def get_stream(
    slug: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> StreamingResponse:
    path = f"/api/communities/{slug}/stream"
    return await StreamingResponse(path, query or {}, headers or {}).start()
