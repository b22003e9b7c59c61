"""Stream routes: SSE over plain HTTP and WebSockets, both with session auth from cookies."""

from django.urls import path

from realtime.consumers import StreamConsumer
from realtime.sse import sse_stream
from realtime.stream_auth import StreamAuthMiddleware

# Channels routes ASGI apps through Django's path(), which django-stubs types for views only.
http_routes = [
    path("api/communities/<str:slug>/stream", StreamAuthMiddleware(sse_stream)),  # type: ignore[arg-type]
]
websocket_routes = [
    path("ws/communities/<str:slug>/", StreamAuthMiddleware(StreamConsumer.as_asgi())),  # type: ignore[arg-type]
]
