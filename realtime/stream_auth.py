"""Who is on the other end of a stream: the session user, resolved once at connect.

Channels' AuthMiddlewareStack would do this too, but its SessionMiddleware wraps `send` and
inspects the session on every body chunk for the whole life of a stream; streams never set
cookies, so here `send` passes through untouched. A request without a session cookie is
anonymous without a database round trip (most overlay and dashboard viewers).
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser


class StreamAuthMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        cookies = _cookies(scope)
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        scope = dict(scope, cookies=cookies)
        if session_key is None:
            scope["user"] = AnonymousUser()
        else:
            from channels.auth import get_user

            scope["session"] = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
            scope["user"] = await get_user(scope)  # type: ignore[arg-type]  # a plain ASGI dict
        await self.app(scope, receive, send)


def _cookies(scope: dict) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar.load(value.decode("latin-1"))
    return {key: morsel.value for key, morsel in jar.items()}
