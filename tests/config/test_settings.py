"""Settings come from the environment through typed helpers; malformed values stop startup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from django.db.utils import ConnectionHandler

from config.env import (
    cache_config,
    celery_config,
    channel_layers_config,
    database_config,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

# --- env_int -------------------------------------------------------------------------------


def test_env_int_reads_a_set_integer():
    assert env_int("DB_POOL_MAX", 20, {"DB_POOL_MAX": " 7 "}) == 7


@pytest.mark.parametrize("environ", [{}, {"DB_POOL_MAX": ""}])
def test_env_int_falls_back_to_the_embedded_default_when_unset_or_empty(environ):
    assert env_int("DB_POOL_MAX", 20, environ) == 20


@pytest.mark.parametrize("raw", ["abc", "1.5", "7x"])
def test_env_int_refuses_a_non_integer_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match=r"DB_POOL_MAX must be an integer"):
        env_int("DB_POOL_MAX", 20, {"DB_POOL_MAX": raw})


def test_env_int_refuses_a_value_below_its_minimum_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"DB_POOL_MAX must be at least 1"):
        env_int("DB_POOL_MAX", 20, {"DB_POOL_MAX": "0"}, minimum=1)


def test_env_int_refuses_a_value_above_its_maximum_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"DB_POOL_MAX must be at most 500"):
        env_int("DB_POOL_MAX", 20, {"DB_POOL_MAX": "501"}, maximum=500)


# --- env_bool ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_env_bool_reads_truthy_spellings(raw):
    assert env_bool("DEBUG", False, {"DEBUG": raw}) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off"])
def test_env_bool_reads_falsy_spellings(raw):
    assert env_bool("DEBUG", True, {"DEBUG": raw}) is False


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_falls_back_to_the_embedded_default_when_unset(default):
    assert env_bool("DEBUG", default, {}) is default


@pytest.mark.parametrize("raw", ["maybe", "2", "y"])
def test_env_bool_refuses_an_unknown_spelling_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG must be a boolean"):
        env_bool("DEBUG", False, {"DEBUG": raw})


# --- env_float -----------------------------------------------------------------------------


def test_env_float_reads_a_set_number():
    assert env_float("DB_POOL_TIMEOUT", 10.0, {"DB_POOL_TIMEOUT": "2.5"}) == 2.5


@pytest.mark.parametrize("environ", [{}, {"DB_POOL_TIMEOUT": ""}])
def test_env_float_falls_back_to_the_embedded_default_when_unset_or_empty(environ):
    assert env_float("DB_POOL_TIMEOUT", 10.0, environ) == 10.0


def test_env_float_refuses_a_non_number_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"DB_POOL_TIMEOUT must be a number"):
        env_float("DB_POOL_TIMEOUT", 10.0, {"DB_POOL_TIMEOUT": "soon"})


def test_env_float_refuses_a_value_below_its_minimum_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"DB_POOL_TIMEOUT must be at least 0.1"):
        env_float("DB_POOL_TIMEOUT", 10.0, {"DB_POOL_TIMEOUT": "0.01"}, minimum=0.1)


# --- env_str / env_list --------------------------------------------------------------------


def test_env_str_uses_the_default_when_unset_or_empty_and_the_value_otherwise():
    assert env_str("LOG_LEVEL", "INFO", {}) == "INFO"
    assert env_str("LOG_LEVEL", "INFO", {"LOG_LEVEL": ""}) == "INFO"
    assert env_str("LOG_LEVEL", "INFO", {"LOG_LEVEL": " debug "}) == "debug"


def test_env_list_splits_on_commas_and_drops_blanks():
    environ = {"ALLOWED_HOSTS": " a.example, b.example,, ,c.example "}
    assert env_list("ALLOWED_HOSTS", ["x"], environ) == ["a.example", "b.example", "c.example"]


def test_env_list_returns_a_copy_of_the_default_when_unset():
    default = ["localhost"]
    hosts = env_list("ALLOWED_HOSTS", default, {})
    hosts.append("evil.example")
    assert hosts[0] == "localhost"
    assert default == ["localhost"]


# --- env_url -------------------------------------------------------------------------------


@pytest.mark.parametrize("environ", [{}, {"DATABASE_URL": ""}, {"DATABASE_URL": "  "}])
def test_env_url_unset_or_empty_means_use_the_embedded_default(environ):
    assert env_url("DATABASE_URL", environ, schemes=("postgres", "postgresql")) is None


@pytest.mark.parametrize(
    "url", ["postgres://u@h:5432/db", "postgresql://u:p@db.internal/hub", "postgres:///hub"]
)
def test_env_url_accepts_a_url_with_an_allowed_scheme(url):
    environ = {"DATABASE_URL": url}
    assert env_url("DATABASE_URL", environ, schemes=("postgres", "postgresql")) == url


@pytest.mark.parametrize(
    "url", ["mysql://x", "sqlite:///db.sqlite3", "localhost:5432", "postgres://"]
)
def test_env_url_refuses_a_wrong_scheme_or_missing_host_naming_the_variable(url):
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL must be a URL with scheme"):
        env_url("DATABASE_URL", {"DATABASE_URL": url}, schemes=("postgres", "postgresql"))


def test_env_url_refuses_a_non_redis_url_for_redis_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"REDIS_URL"):
        env_url("REDIS_URL", {"REDIS_URL": "http://cache:6379"}, schemes=("redis", "rediss"))


# --- database_config -----------------------------------------------------------------------


def test_without_database_url_the_database_is_sqlite_under_var_in_wal_mode(tmp_path: Path):
    config = database_config(None, base_dir=tmp_path, pool_max=20, pool_timeout=10.0)

    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "var" / "db.sqlite3")
    assert "PRAGMA journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["TEST"]["NAME"] == str(tmp_path / "var" / "test.sqlite3")


def test_a_postgres_url_gives_postgresql_with_a_sized_pool_and_health_checks(tmp_path: Path):
    config = database_config(
        "postgres://u@h:5432/db", base_dir=tmp_path, pool_max=7, pool_timeout=3.0
    )

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["HOST"], config["PORT"]) == (
        "db",
        "u",
        "h",
        5432,
    )
    assert config["OPTIONS"]["pool"]["max_size"] == 7
    assert config["OPTIONS"]["pool"]["timeout"] == 3.0
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["CONN_MAX_AGE"] == 0


def test_django_can_build_the_connection_pool_from_the_postgres_config(tmp_path: Path):
    """The pool is created lazily by Django's backend; building it opens no connection."""
    config = database_config(
        "postgres://u@h:5432/db", base_dir=tmp_path, pool_max=7, pool_timeout=3.0
    )
    settings_dict = ConnectionHandler({"default": config}).settings["default"]
    wrapper = PostgresDatabaseWrapper(settings_dict, alias="test_settings_pool")

    try:
        pool = wrapper.pool
        assert pool.max_size == 7
        assert pool.timeout == 3.0
        assert pool._check is not None  # health checks on checkout, from CONN_HEALTH_CHECKS
    finally:
        if "test_settings_pool" in PostgresDatabaseWrapper._connection_pools:
            wrapper.close_pool()


def test_a_non_postgres_database_url_is_refused_naming_database_url(tmp_path: Path):
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL must be a PostgreSQL URL"):
        database_config("mysql://u@h/db", base_dir=tmp_path, pool_max=7, pool_timeout=3.0)


# --- cache, channel layers, celery ---------------------------------------------------------


def test_without_redis_the_cache_is_local_memory():
    assert cache_config(None)["default"]["BACKEND"] == (
        "django.core.cache.backends.locmem.LocMemCache"
    )


def test_with_redis_the_cache_is_django_redis_at_that_url():
    default = cache_config("redis://cache:6379/1")["default"]
    assert default["BACKEND"] == "django_redis.cache.RedisCache"
    assert default["LOCATION"] == "redis://cache:6379/1"


def test_without_redis_the_channel_layer_is_in_memory_with_the_capacity():
    default = channel_layers_config(None, capacity=123)["default"]
    assert default["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert default["CONFIG"]["capacity"] == 123


def test_with_redis_the_channel_layer_is_channels_redis_at_that_url():
    default = channel_layers_config("redis://cache:6379/1", capacity=123)["default"]
    assert default["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert default["CONFIG"]["hosts"] == ["redis://cache:6379/1"]
    assert default["CONFIG"]["capacity"] == 123


def test_without_redis_celery_tasks_run_in_process():
    assert celery_config(None) == {"BROKER_URL": "memory://", "IN_PROCESS": True}


def test_with_redis_celery_uses_it_as_the_broker():
    assert celery_config("redis://cache:6379/2") == {
        "BROKER_URL": "redis://cache:6379/2",
        "IN_PROCESS": False,
    }


# --- startup, in a fresh process -----------------------------------------------------------

_SETUP = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    """Runs django.setup() in a child process with a controlled environment."""
    environ = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DB_POOL_MAX"):
        environ.pop(name, None)
    environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", _SETUP],
        cwd=settings.BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_malformed_db_pool_max_stops_startup_naming_db_pool_max():
    result = _start(DEBUG="1", DB_POOL_MAX="abc")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DB_POOL_MAX must be an integer" in result.stderr


def test_a_malformed_debug_stops_startup_naming_debug():
    result = _start(DEBUG="maybe")

    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_debug_off_without_a_secret_key_is_refused_naming_secret_key():
    result = _start(DEBUG="0")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_debug_off_with_the_development_secret_key_set_explicitly_is_refused():
    result = _start(DEBUG="0", SECRET_KEY=settings.DEV_SECRET_KEY)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_off_with_a_real_secret_key_starts():
    result = _start(DEBUG="0", SECRET_KEY="a-real-production-secret-of-decent-length-0123456789")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
