"""Requests through the whole ASGI application (what Daphne serves), for tests that must cover
the lean edges in front of Django as well as Django itself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx


class AsgiResponse:
    """The bits of a Django test response the tests read: status, JSON, content, headers."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content = response.content
        self.headers = response.headers

    def json(self) -> Any:
        return json.loads(self.content)

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def has_header(self, name: str) -> bool:
        return name in self.headers


async def asgi_request(
    method: str, path: str, *, content: bytes | None = None, headers: dict | None = None
) -> AsgiResponse:
    from config.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.request(method, path, content=content, headers=headers or {})
    return AsgiResponse(response)


def asgi_post(path: str, body: Any, token: str | None, headers: dict | None = None) -> AsgiResponse:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return asyncio.run(asgi_request("POST", path, content=content, headers=sent))
