"""GET /metrics in Prometheus text format (this process's counters plus the outbox backlog)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config.api import error_response
from realtime import metrics
from realtime.selectors import undispatched_summary


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if expected:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, expected):
            return error_response(401, "not_authenticated", "Metrics need the METRICS_TOKEN.")
    pending, lag = undispatched_summary()
    metrics.OUTBOX_PENDING.set(pending)
    metrics.OUTBOX_LAG.set(lag or 0.0)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
