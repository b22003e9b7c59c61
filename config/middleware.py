"""The API's edge: oversized bodies are refused before anything reads them, a path with a NUL
names nothing (404 everywhere), and responses Django produces outside Ninja (405, 404) keep
the API's JSON error shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from config.edge import BAD_REQUEST_MESSAGE, body_too_large_body, error_response, path_is_clean

logger = logging.getLogger(__name__)


class ApiHostMiddleware:
    """A Host outside ALLOWED_HOSTS on /api/ gets the API's JSON 400 in every mode: Django's own
    answer is an HTML page (with DEBUG on, `make run`'s default, its debug page). Sync and async
    capable, so it adds no thread hop in front of the chain."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        refusal = _bad_api_host(request)
        if iscoroutinefunction(self.get_response):
            return self._acall(request, refusal)
        return refusal or self.get_response(request)

    async def _acall(self, request: HttpRequest, refusal: HttpResponse | None) -> HttpResponse:
        return refusal or await cast(Awaitable[HttpResponse], self.get_response(request))


def _bad_api_host(request: HttpRequest) -> HttpResponse | None:
    if not request.path.startswith("/api/"):
        return None
    try:
        request.get_host()
    except DisallowedHost as error:
        logger.warning("refused host path=%s: %s", request.path, error)
        return error_response(400, "invalid", BAD_REQUEST_MESSAGE)
    return None


class ApiEdgeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not path_is_clean(request.path):
            raise Http404("No such page.")  # handler404 answers: JSON under /api/
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            return error_response(400, "invalid", "Content-Length is not a number.")
        if length > settings.API_MAX_BODY_BYTES:
            return JsonResponse(body_too_large_body(), status=413)
        response = self.get_response(request)
        if response.status_code == 405 and not _is_json(response):
            allow = response.get("Allow", "")
            response = error_response(
                405, "method_not_allowed", f"Method {request.method} not allowed; use {allow}."
            )
            response["Allow"] = allow
        return response


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
