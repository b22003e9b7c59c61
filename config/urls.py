from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from config.api import api
from config.edge import (
    BAD_REQUEST_MESSAGE,
    NO_SUCH_ENDPOINT,
    SERVER_ERROR_MESSAGE,
    error_response,
)
from config.health import healthz, readyz
from progression.views import console, dashboard, overlay
from realtime.views import prometheus_metrics

urlpatterns = [
    path("", include("pages.urls")),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", prometheus_metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("c/<str:slug>/", dashboard, name="dashboard"),
    path("c/<str:slug>/overlay/", overlay, name="overlay"),
    path("c/<str:slug>/manage/", console, name="console"),
    path("api/", api.urls),
    re_path(r"^api/", lambda request: error_response(404, "not_found", NO_SUCH_ENDPOINT)),
]


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A bad Host header (or another suspicious request) under /api/ keeps the JSON shape."""
    if request.path.startswith("/api/"):
        return error_response(400, "invalid", BAD_REQUEST_MESSAGE)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:  # noqa: D103
    if request.path.startswith("/api/"):
        return error_response(404, "not_found", NO_SUCH_ENDPOINT)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return error_response(500, "server_error", SERVER_ERROR_MESSAGE)
    from django.views.defaults import server_error

    return server_error(request)
