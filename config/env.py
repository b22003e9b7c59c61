"""Typed readers for settings from the environment.

Every setting has an embedded default so a fresh clone runs with nothing set; a value that is
set but malformed stops the process at import with a message naming the variable, rather than
surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {value!r}")


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def env_float(
    name: str, default: float, environ: Mapping[str, str] | None = None, *, minimum: float = 0.0
) -> float:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_rate(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """A rate such as `60/m` (count per s, m, h or d)."""
    value = env_str(name, default, environ)
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period[:1] not in {"s", "m", "h", "d"}:
        raise ImproperlyConfigured(
            f"{name} must look like 60/m (count per s, m, h or d), got {value!r}"
        )
    return value


def env_url(
    name: str, environ: Mapping[str, str] | None = None, *, schemes: tuple[str, ...]
) -> str | None:
    """A URL that is either unset (None: use the embedded default) or well-formed."""
    value = _raw(name, environ)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise ImproperlyConfigured(
            f"{name} must be a URL with scheme {' or '.join(schemes)}, got {value!r}"
        )
    return value


def database_config(
    database_url: str | None,
    *,
    base_dir: Path,
    pool_max: int,
    pool_timeout: float,
    test_name: str | None = None,
    sqlite_path: str | None = None,
) -> dict[str, Any]:
    """PostgreSQL with Django's psycopg pool when a URL is given, else a SQLite file in WAL.

    `test_name` lets several test runs share a machine without sharing a test database;
    `sqlite_path` points the embedded default at another file (a browser test's server at the
    test database, the screenshot script at its own demo).
    """
    if database_url is None:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path or str(base_dir / "var" / "db.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": str(base_dir / "var" / f"{test_name or 'test'}.sqlite3")},
        }
    config: dict[str, Any] = dict(dj_database_url.parse(database_url))
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"DATABASE_URL must be a PostgreSQL URL, got {database_url!r}")
    config["CONN_MAX_AGE"] = 0  # the pool owns connection lifetime
    # With a pool, Django turns this into psycopg_pool's check on every checkout.
    config["CONN_HEALTH_CHECKS"] = True
    config["OPTIONS"] = {
        "pool": {"min_size": 1, "max_size": pool_max, "timeout": pool_timeout},
    }
    if test_name:
        config["TEST"] = {"NAME": test_name}
    return config


def cache_config(redis_url: str | None) -> dict[str, Any]:
    if redis_url is None:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "ph",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 1.0,
                "SOCKET_TIMEOUT": 1.0,
            },
        }
    }


def channel_layers_config(redis_url: str | None, *, capacity: int) -> dict[str, Any]:
    if redis_url is None:
        return {
            "default": {
                "BACKEND": "channels.layers.InMemoryChannelLayer",
                "CONFIG": {"capacity": capacity},
            }
        }
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "capacity": capacity, "prefix": "ph:asgi"},
        }
    }


def celery_config(redis_url: str | None) -> dict[str, Any]:
    """Redis broker when set; otherwise tasks run in this process on a worker thread."""
    if redis_url is None:
        return {"BROKER_URL": "memory://", "IN_PROCESS": True}
    return {"BROKER_URL": redis_url, "IN_PROCESS": False}
