"""GET /metrics in Prometheus text format: the counters of this process (or of every process
of the web launcher, summed), the outbox backlog, and the engagement counters."""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from communities.errors import InvalidCredentials
from config.edge import bearer_token, error_response
from progression import metrics as _progression_metrics  # noqa: F401 - registers them
from realtime import metrics
from realtime.selectors import undispatched_summary


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if expected:
        try:
            given = bearer_token(request.headers.get("Authorization")) or ""
        except InvalidCredentials:
            given = ""
        if not hmac.compare_digest(given, expected):
            return error_response(401, "not_authenticated", "Metrics need the METRICS_TOKEN.")
    pending, lag = undispatched_summary()
    metrics.OUTBOX_PENDING.set(pending)
    metrics.OUTBOX_LAG.set(lag or 0.0)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
