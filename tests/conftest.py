"""Shared fixtures.

CI's real-services run sets REQUIRE_REAL_SERVICES=1: then a test marked `real_services` that
cannot reach PostgreSQL or Redis fails instead of skipping, so the run can never be silently
hollow.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from tests.factories import CommunityFactory


def _real_services_available() -> bool:
    return bool(settings.DATABASE_URL and settings.REDIS_URL)


def pytest_collection_modifyitems(config, items):  # noqa: ANN001
    if _real_services_available():
        return
    for item in items:
        if "real_services" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs DATABASE_URL and REDIS_URL"))


def pytest_sessionstart(session):  # noqa: ANN001
    if os.environ.get("REQUIRE_REAL_SERVICES") == "1" and not _real_services_available():
        raise pytest.UsageError(
            "REQUIRE_REAL_SERVICES=1 but DATABASE_URL or REDIS_URL is not set: "
            "the real-services run would be hollow."
        )


@pytest.fixture(autouse=True)
def _no_background_relay(settings):
    """Tests drive the relay themselves; a background thread would race their transactions."""
    settings.OUTBOX_RELAY_IN_PROCESS = False
    settings.BEAT_IN_PROCESS = False


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit buckets, lockouts and cached values never leak from one test into the next."""
    from config.edge import failed_auth
    from progression import cache as progression_cache
    from progression import ratelimit

    cache.clear()
    progression_cache.clear_local()  # ids are reused between tests: a stale entry would match
    failed_auth.reset()
    ratelimit.reset_local()
    yield
    cache.clear()
    progression_cache.clear_local()
    failed_auth.reset()
    ratelimit.reset_local()


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def community(db):
    return CommunityFactory()


@pytest.fixture
def private_community(db):
    return CommunityFactory(visibility="private")
