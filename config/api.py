"""The HTTP API: one NinjaAPI under /api/, one auth that yields an Actor, one error shape.

Every error leaves as `{"error": {"code", "message", "fields"?}}`; the mapping from exception
to status lives here and only here.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.security.base import AuthBase
from ninja.throttling import SimpleRateThrottle
from ninja.utils import check_csrf

from communities.errors import InvalidCredentials, NotAllowed
from communities.permissions import Actor
from communities.selectors import actor_for_overlay_key, actor_for_token, actor_for_user
from communities.services import authenticate_overlay_key, authenticate_token
from config.edge import (
    bearer_token,
    body_too_large_body,
    error_response,
    exception_response,
    failed_auth,
    request_client_address,
)

logger = logging.getLogger(__name__)
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class ActorAuth(AuthBase):
    """Bearer token for bots, an overlay key (`?key=`, reads only) for OBS overlays, the Django
    session for people, else anonymous.

    Always yields an Actor, so public reads work without credentials; a bad or revoked token
    or key is a 401 rather than a silent downgrade to anonymous, and too many of those from one
    address a 429 (config.edge.FailedAuthLimit). An API token is only ever read from the
    Authorization header, never from the URL (docs/overlay.md).
    """

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Actor:
        header = request.headers.get("Authorization", "")
        overlay_key = request.GET.get("key") if request.method in _SAFE_METHODS else None
        if header:
            actor = actor_for_token(_authenticate(request, header))
        elif overlay_key is not None:
            actor = actor_for_overlay_key(_authenticate(request, overlay_key, overlay=True))
        else:
            user = getattr(request, "user", None)
            actor = actor_for_user(user)
            if actor.user_id is not None and request.method not in _SAFE_METHODS:
                if check_csrf(request) is not None:
                    raise NotAllowed("CSRF check failed for a session-authenticated request.")
        request.actor = actor  # type: ignore[attr-defined]
        return actor


def _authenticate(request: HttpRequest, credential: str, *, overlay: bool = False) -> Any:
    """The token (or overlay key), under the failed-auth limit of the caller's address."""
    address = request_client_address(request)
    failed_auth.check(address)
    try:
        if overlay:
            return authenticate_overlay_key(credential)
        return authenticate_token(bearer_token(credential) or "")
    except InvalidCredentials:
        failed_auth.failed(address)
        raise


class ActorRateThrottle(SimpleRateThrottle):
    """One bucket per token, per user, or per client address for anonymous callers."""

    scope = "api"

    def __init__(self, rate: str, kind: str) -> None:
        super().__init__(rate)
        self.kind = kind

    def get_cache_key(self, request: HttpRequest) -> str | None:
        actor: Actor | None = getattr(request, "actor", None)
        if actor is None or actor.is_anonymous:
            if self.kind != "anon":
                return None
            ident = f"ip:{request_client_address(request)}"
        else:
            if self.kind != "auth":
                return None
            ident = (
                f"t:{actor.token_id}"
                if actor.token_id
                else f"k:{actor.overlay_key_id}"
                if actor.overlay_key_id
                else f"u:{actor.user_id}"
            )
        return f"throttle:{self.kind}:{ident}"


api = NinjaAPI(
    title="Progression Hub API",
    version="1",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=ActorAuth(),
    throttle=[
        ActorRateThrottle(settings.API_RATE_ANON, "anon"),
        ActorRateThrottle(settings.API_RATE_AUTHENTICATED, "auth"),
    ],
)


def _validation_fields(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path")]
        # Ninja nests the body under the parameter name; drop it so fields read like the input.
        if len(loc) > 1 and loc[0] in ("payload", "data", "body"):
            loc = loc[1:]
        fields.setdefault(".".join(loc) or "__all__", []).append(err.get("msg", "invalid"))
    return fields


@api.exception_handler(ValidationError)
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(400, "invalid", "Invalid input.", _validation_fields(exc.errors))


@api.exception_handler(AuthenticationError)
def _on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(401, "not_authenticated", "Credentials are missing or invalid.")


@api.exception_handler(Throttled)
def _on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = error_response(429, "rate_limited", "Too many requests; retry later.")
    response["Retry-After"] = str(max(1, math.ceil(exc.wait or 1)))
    return response


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), str(exc))


@api.exception_handler(Http404)
def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", str(exc) or "Not found.")


@api.exception_handler(RequestDataTooBig)
def _on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return body_too_large_response()


@api.exception_handler(Exception)
def _on_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Domain errors, an unreachable database or Redis, and the unexpected: config.edge maps."""
    return exception_response(exc, f"{request.method} {request.path}")


def body_too_large_response() -> JsonResponse:
    return JsonResponse(body_too_large_body(), status=413)


_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    429: "rate_limited",
}

api.add_router("/communities", "communities.api.router")
api.add_router("/communities", "progression.api.router")
api.add_router("/communities", "events_app.api.router")  # reads and writes: one router
api.add_router("/communities", "jobs.api.router")
api.add_router("/communities", "jobs.api_suggestions.router")
api.add_router("/communities", "jobs.api_board.router")
