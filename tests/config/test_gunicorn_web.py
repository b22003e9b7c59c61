"""The web process's gunicorn settings (scripts/gunicorn_web.py): how many workers, where it
listens, and whose X-Forwarded-For it believes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gunicorn_web.py"


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """The config file as gunicorn executes it, under `env` (and nothing else of ours)."""
    for name in ("WEB_PROCESSES", "REDIS_URL", "HOST", "PORT", "TRUSTED_PROXY_COUNT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("gunicorn_web", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_embedded_mode_runs_one_worker_because_its_channel_layer_lives_in_memory(monkeypatch):
    assert _settings(monkeypatch).workers == 1


def test_with_redis_two_workers_share_the_port(monkeypatch):
    assert _settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0").workers == 2


def test_web_processes_overrides_the_default(monkeypatch):
    assert _settings(monkeypatch, WEB_PROCESSES="3").workers == 3
    assert _settings(monkeypatch, WEB_PROCESSES="1", REDIS_URL="redis://x").workers == 1


def test_zero_web_processes_is_refused_at_start(monkeypatch):
    with pytest.raises(ValueError, match="WEB_PROCESSES"):
        _settings(monkeypatch, WEB_PROCESSES="0")


def test_it_listens_on_host_and_port_with_a_deep_backlog(monkeypatch):
    assert _settings(monkeypatch).bind == ["127.0.0.1:8000"]
    settings = _settings(monkeypatch, HOST="0.0.0.0", PORT="9000")
    assert settings.bind == ["0.0.0.0:9000"]
    assert _settings(monkeypatch, HOST="::1").bind == ["[::1]:8000"]
    assert settings.backlog == 4096


def test_forwarded_headers_are_trusted_from_nobody_without_a_proxy(monkeypatch):
    assert _settings(monkeypatch).forwarded_allow_ips == ""
    assert _settings(monkeypatch, TRUSTED_PROXY_COUNT="0").forwarded_allow_ips == ""
    # gunicorn's own default would trust 127.0.0.1 through its FORWARDED_ALLOW_IPS variable
    no_proxy = _settings(monkeypatch, FORWARDED_ALLOW_IPS="*")
    assert no_proxy.forwarded_allow_ips == ""


def test_forwarded_headers_are_trusted_from_the_proxy_when_one_is_declared(monkeypatch):
    assert _settings(monkeypatch, TRUSTED_PROXY_COUNT="1").forwarded_allow_ips == "127.0.0.1,::1"
    behind = _settings(monkeypatch, TRUSTED_PROXY_COUNT="2", FORWARDED_ALLOW_IPS="10.0.0.0/8")
    assert behind.forwarded_allow_ips == "10.0.0.0/8"


def test_gunicorn_accepts_the_settings_as_written(monkeypatch):
    """Every module-level name gunicorn knows is valid for it (a typo would be ignored by a
    plain import but refused or silently dropped by gunicorn)."""
    from gunicorn.config import Config

    settings = _settings(monkeypatch, REDIS_URL="redis://x")
    config = Config()
    for name in ("bind", "workers", "backlog", "graceful_timeout", "keepalive", "accesslog"):
        config.set(name, getattr(settings, name))
    config.set("forwarded_allow_ips", settings.forwarded_allow_ips)
    config.set("worker_class", settings.worker_class)
    config.set("control_socket_disable", settings.control_socket_disable)

    assert config.forwarded_allow_ips == []
    assert config.worker_class.__name__ == "WebWorker"
    assert config.workers == 2
