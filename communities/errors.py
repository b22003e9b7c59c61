"""Domain errors. Each has a stable code; the API edge maps them to HTTP statuses in one place."""

from __future__ import annotations


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


class NotAllowed(ApplicationError):
    code = "forbidden"
    status = 403


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class Conflict(ApplicationError):
    code = "conflict"
    status = 409


class Overloaded(ApplicationError):
    """The server is at capacity for this kind of request; the caller should retry shortly."""

    code = "overloaded"
    status = 429
    retry_after = 1


class Unavailable(ApplicationError):
    """A part the request needs (the database) did not answer in time."""

    code = "unavailable"
    status = 503
    retry_after = 2
