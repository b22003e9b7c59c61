"""Domain errors. Each has a stable code; the API edge maps them to HTTP statuses in one place."""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    """The one error shape every edge answers: {"error": {"code", "message", "fields"?}}."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


class ApplicationError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class InvalidInput(ApplicationError):
    code = "invalid"
    status = 400


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status = 401


class InvalidCredentials(NotAuthenticated):
    """Credentials were sent and are wrong (a bad, revoked or malformed token): the edges count
    these per client address and lock out guessers (config.edge.FailedAuthLimit)."""


class NotAllowed(ApplicationError):
    code = "forbidden"
    status = 403


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class CommunityNotFound(NotFound):
    """No community by this slug, or one the caller may not know of: both read the same."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"No community {slug!r}.")


class Conflict(ApplicationError):
    code = "conflict"
    status = 409


class Overloaded(ApplicationError):
    """The server is at capacity for this kind of request; the caller should retry shortly."""

    code = "overloaded"
    status = 429
    retry_after = 1


class Unavailable(ApplicationError):
    """A part the request needs (the database, Redis) did not answer in time."""

    code = "unavailable"
    status = 503
    retry_after = 2


# Failures that say nothing about the request: answered as Unavailable, never retried alone.
UNAVAILABLE_CAUSES = (
    PoolTimeout,
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
)
UNAVAILABLE_MESSAGE = "The database did not answer in time; retry."
