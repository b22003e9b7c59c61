"""Stream routes: SSE over plain HTTP and WebSockets, both with session auth from cookies."""

from django.urls import path

from realtime.consumers import StreamConsumer
from realtime.sse import sse_stream
from realtime.stream_auth import StreamAuthMiddleware

http_routes = [
    path("api/communities/<str:slug>/stream", StreamAuthMiddleware(sse_stream)),
]
websocket_routes = [
    path("ws/communities/<str:slug>/", StreamAuthMiddleware(StreamConsumer.as_asgi())),
]
