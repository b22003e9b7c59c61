"""ASGI entry point: stream endpoints go to Channels consumers, bots' engagement POSTs to the
lean ingest edge, everything else to Django."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app: Any = get_asgi_application()  # wrapped below by other ASGI app classes

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from config.background import StartBackground  # noqa: E402
from config.body_limit import BodyLimit  # noqa: E402
from progression.ingest_edge import IngestRoute  # noqa: E402
from realtime.routing import http_routes, websocket_routes  # noqa: E402

django_asgi_app = BodyLimit(IngestRoute(django_asgi_app))
if settings.SERVE_STATIC:
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

# Channels' stubs want their type-check-only _ExtendedURLPattern; Django's path() makes URLPattern.
application = StartBackground(
    ProtocolTypeRouter(
        {
            "http": URLRouter([*http_routes, re_path(r"", django_asgi_app)]),  # type: ignore[list-item]
            "websocket": URLRouter(websocket_routes),  # type: ignore[arg-type]
        }
    )
)
