"""The web launcher's process count: two Daphnes with Redis, one in embedded mode."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "serve_web.py"


def _launcher():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("serve_web", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_embedded_mode_runs_one_daphne_because_its_channel_layer_lives_in_memory():
    assert _launcher().default_processes({}) == 1


def test_with_redis_two_daphnes_share_the_port():
    assert _launcher().default_processes({"REDIS_URL": "redis://127.0.0.1:6379/0"}) == 2


def test_web_processes_overrides_the_default():
    launcher = _launcher()
    assert launcher.default_processes({"WEB_PROCESSES": "3"}) == 3
    assert launcher.default_processes({"WEB_PROCESSES": "1", "REDIS_URL": "redis://x"}) == 1
