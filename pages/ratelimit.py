"""Sign-in attempts per client address: a small bucket in the cache, so guessing passwords is
slow. Counting attempts (not failures) keeps it one cache call and needs no signal handler."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.edge import client_address

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 300


def throttled_login(request: HttpRequest) -> HttpResponse | None:
    address = client_address(
        request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR")
    )
    key = f"signin-attempts:{address}"
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        attempts = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_SECONDS)
        attempts = 1
    if attempts <= settings.SIGN_IN_ATTEMPTS:
        return None
    logger.warning("sign-in throttled for %s after %s attempts", key, attempts)
    response = render(request, "accounts/throttled.html", status=429)
    response["Retry-After"] = str(WINDOW_SECONDS)
    return response
