"""The edge kit: what every way into the product does the same way.

Four edges take requests: the Ninja API (`config.api`), the lean engagement route
(`progression.ingest_edge`), the streams (`realtime.sse`, `realtime.consumers`) and the ASGI
guards in front of them (`config.body_limit`). They all read bearer tokens, request ids and
client addresses, limit failed authentications and turn exceptions into the one error body
here, so a caller gets the same answer whichever edge served it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse

from communities.errors import (
    UNAVAILABLE_CAUSES,
    UNAVAILABLE_MESSAGE,
    ApplicationError,
    InvalidCredentials,
    Unavailable,
    error_body,
)
from config.logging import request_id_from

logger = logging.getLogger(__name__)

SERVER_ERROR_MESSAGE = "Something went wrong on our side."
NO_SUCH_ENDPOINT = "No such endpoint."
BAD_REQUEST_MESSAGE = "Bad request (check the Host header)."
BEARER_FORMAT = "Authorization must be 'Bearer <token>'."


# --- errors ----------------------------------------------------------------------------------


class RateLimited(ApplicationError):
    """Too many requests (or failed authentications) from one caller; retry after a while."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


def error_answer(exc: BaseException, where: str) -> tuple[int, dict[str, Any], int | None]:
    """(status, body, Retry-After) for any exception an edge caught: domain errors keep their
    status, an unreachable database or Redis is a 503, anything else a logged 500."""
    if isinstance(exc, ApplicationError):
        retry_after = getattr(exc, "retry_after", None)
        return exc.status, error_body(exc.code, exc.message, exc.fields), retry_after
    if isinstance(exc, UNAVAILABLE_CAUSES):
        logger.error("database or Redis unavailable at %s: %r", where, exc)
        return error_answer(Unavailable(UNAVAILABLE_MESSAGE), where)
    logger.error("unhandled error at %s", where, exc_info=exc)
    return 500, error_body("server_error", SERVER_ERROR_MESSAGE), None


def error_response(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, fields), status=status)


def exception_response(exc: BaseException, where: str) -> JsonResponse:
    status, body, retry_after = error_answer(exc, where)
    response = JsonResponse(body, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def body_too_large_body() -> dict[str, Any]:
    return error_body(
        "body_too_large", f"Request body exceeds {settings.API_MAX_BODY_BYTES} bytes."
    )


async def send_json(
    send: Any,
    status: int,
    body: dict[str, Any],
    *,
    request_id: str | None = None,
    retry_after: int | None = None,
    close: bool = False,
) -> None:
    """A whole JSON response on a raw ASGI `send` (the edges that run before Django)."""
    content = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


# --- what a request carries ------------------------------------------------------------------


def scope_headers(scope: Mapping[str, Any]) -> dict[str, str]:
    """An ASGI scope's headers, lower-cased names; the last of repeated headers wins."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}


def bearer_token(authorization: str | None) -> str | None:
    """The raw token of an `Authorization: Bearer <token>` header; None when there is no
    header (the caller is anonymous or uses a session); a malformed header is refused (401)."""
    if not authorization:
        return None
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise InvalidCredentials(BEARER_FORMAT)
    return raw.strip()


def scope_request_id(scope: Mapping[str, Any]) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return request_id_from(value.decode("latin-1"))
    return request_id_from("")


def path_is_clean(path: str) -> bool:
    """A NUL can name nothing (PostgreSQL text cannot hold it): such a path is a 404."""
    return "\x00" not in path


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """Who is calling, for rate limits: the socket's peer, unless TRUSTED_PROXY_COUNT proxies
    stand in front, then the address the outermost of them saw (the Nth entry from the right
    of X-Forwarded-For; entries further left are whatever the client wrote)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= count:
            return hops[-count]
    return peer or "unknown"


def request_client_address(request: HttpRequest) -> str:
    return client_address(request.META.get("REMOTE_ADDR"), request.headers.get("X-Forwarded-For"))


def scope_client_address(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    peer = client[0] if client else None
    return client_address(peer, scope_headers(scope).get("x-forwarded-for"))


# --- failed authentications ------------------------------------------------------------------


class FailedAuthLimit:
    """Bearer-token guesses per client address, on every edge that takes tokens.

    Each failed authentication takes a token from the address's bucket (progression.ratelimit:
    Redis when configured, shared by every process). Once the bucket is empty the address is
    refused with 429 before its credentials are even looked at, whether they are right or
    not, until a token has refilled; that lockout is remembered in this process, so the hot
    path (a valid bot's request) costs a dictionary lookup, never a round trip.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Raises RateLimited while `address` is locked out in this process."""
        until = self._until.get(address)
        if until is None:
            return
        wait = until - time.monotonic()
        if wait > 0:
            raise RateLimited(
                "Too many failed authentications; retry later.", retry_after=math.ceil(wait)
            )
        with self._lock:
            self._until.pop(address, None)

    def failed(self, address: str) -> None:
        """Counts one failure; raises RateLimited if it was beyond the limit."""
        from progression.ratelimit import take_one

        rate, burst = _rate(settings.AUTH_FAILURE_RATE)
        granted, left = take_one(f"authfail:{address}", rate=rate, burst=burst)
        if left < 1:
            with self._lock:
                if len(self._until) > 100_000:
                    self._forget_expired()
                self._until[address] = time.monotonic() + (1 - left) / rate
        if not granted:
            self.check(address)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for address, until in list(self._until.items()):
            if until <= now:
                del self._until[address]

    def reset(self) -> None:
        with self._lock:
            self._until.clear()


failed_auth = FailedAuthLimit()
T = TypeVar("T")


async def authenticating(address: str, call: Callable[[], Awaitable[T]]) -> T:
    """Awaits `call()` (which authenticates a bearer token) under the failed-auth limit of
    `address`: refused at once while locked out, and a failure counted."""
    failed_auth.check(address)
    try:
        return await call()
    except InvalidCredentials:
        await sync_to_async(failed_auth.failed, thread_sensitive=False)(address)
        raise


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate(value: str) -> tuple[float, int]:
    """`20/m` → (tokens per second, burst)."""
    count, _, period = value.partition("/")
    return int(count) / _PERIODS[period[:1]], int(count)
