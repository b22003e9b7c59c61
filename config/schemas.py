from ninja import Schema


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] | None = None


class ErrorOut(Schema):
    """Every API error has this shape."""

    error: ErrorDetail


# What every route may answer besides its 200 (config.edge maps the exceptions): bad input,
# bad credentials, not allowed, unknown (or private) community, rate limited, unavailable.
READ_ERRORS = (400, 401, 403, 404, 429, 503)
# ... and for writes: a conflict with the current state, a body too large.
WRITE_ERRORS = (*READ_ERRORS, 409, 413)


def errors(statuses: tuple[int, ...]) -> dict[int, type[ErrorOut]]:
    """`response=` entries documenting each error status with the one error body."""
    return dict.fromkeys(statuses, ErrorOut)


# Public reads need no credentials in a public community (a token or a session opens private
# ones): in OpenAPI terms, anonymous `{}` or the bearer token.
OPTIONAL_AUTH: dict = {"security": [{}, {"ActorAuth": []}]}
