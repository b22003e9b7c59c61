"""Liveness always answers; readiness checks each real dependency and names what is down."""

from __future__ import annotations

import pytest
from channels.layers import channel_layers
from django.core.cache import caches
from django.test import override_settings

CHECKS = {"database", "cache", "channel_layer", "broker"}
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"

pytestmark = pytest.mark.django_db


def test_healthz_answers_200_without_touching_dependencies(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_with_every_check_ok_and_timed(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    for name, result in body["checks"].items():
        assert result["ok"] is True, (name, result)
        assert isinstance(result["latency_ms"], int | float), name
        assert result["latency_ms"] >= 0, name
    assert "failing" not in body


def test_readyz_is_503_naming_redis_when_redis_is_unreachable(client):
    unreachable = override_settings(
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": UNREACHABLE_REDIS,
                "OPTIONS": {
                    "CLIENT_CLASS": "django_redis.client.DefaultClient",
                    "SOCKET_CONNECT_TIMEOUT": 0.5,
                    "SOCKET_TIMEOUT": 0.5,
                },
            }
        },
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [UNREACHABLE_REDIS]},
            }
        },
        TASKS_IN_PROCESS=False,
        CELERY_BROKER_URL=UNREACHABLE_REDIS,
    )
    with unreachable:
        response = client.get("/readyz")

    # Leaving override_settings drops the layer and cache built against the fake Redis, so
    # later tests talk to the configured backends again.
    assert channel_layers.backends == {}
    caches["default"].set("after-readyz", "1", timeout=5)
    assert caches["default"].get("after-readyz") == "1"

    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "fail"
    assert "cache" in body["failing"]
    assert "channel_layer" in body["failing"]
    assert "broker" in body["failing"]
    assert "database" not in body["failing"]
    assert body["checks"]["database"]["ok"] is True
    for name in ("cache", "channel_layer", "broker"):
        assert body["checks"][name]["ok"] is False
        assert body["checks"][name]["error"]
        assert isinstance(body["checks"][name]["latency_ms"], int | float)
    assert "redis" in body["message"].lower()
    assert "cache (redis)" in body["message"]
