"""Fixtures for the realtime backbone tests."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

import realtime.hub
from realtime.hub import get_hub
from tests.realtime.helpers import FanoutRecorder
from tests.realtime.streams import make_opener


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_signal_handlers(monkeypatch):
    """A hub chains SIGTERM/SIGINT in the main thread; per-test hubs must not stack handlers."""
    monkeypatch.setattr(realtime.hub, "_install_shutdown_signal", lambda hub: None)


@pytest.fixture
def fanout_recorder(monkeypatch) -> FanoutRecorder:
    """Nothing leaves after commit; the test decides what reaches the hub and when."""
    recorder = FanoutRecorder()
    monkeypatch.setattr("realtime.fanout.send", recorder)
    return recorder


@pytest_asyncio.fixture
async def hub():
    """This event loop's hub, started (on Redis it listens on the channel layer), then stopped."""
    hub = get_hub()
    await hub.start()
    yield hub
    for task in hub._tasks:
        task.cancel()
    await asyncio.gather(*hub._tasks, return_exceptions=True)


@pytest_asyncio.fixture
async def open_stream(hub):
    """Opens StreamConnections on this loop's hub; every one still running is cancelled after."""
    tasks: list[asyncio.Task] = []
    yield make_opener(hub, tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
