"""The API's edge: oversized bodies are refused before anything reads them, a path with a NUL
names nothing (404 everywhere), and responses Django produces outside Ninja (405, 404) keep
the API's JSON error shape."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from config.edge import body_too_large_body, error_response, path_is_clean


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
