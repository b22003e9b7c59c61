"""Fixtures for end-to-end tests: real server processes on the test database and Redis.

pytest-django creates the test database; the servers started here connect to it (its name is
in settings once `django_db_setup` has run), to the run's REDIS_URL, with DEBUG=1, each on a
free port. Tests write with `django_db(transaction=True)` so the servers see committed rows.
Shared servers live for the session; a test that needs its own configuration (or kills its
server) starts one with `processes`, stopped when the test ends. If a test fails, the part
of every live process's log written during the test is printed with the failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from tests.e2e.processes import LIVE, STARTED, Launcher, Process, database_url_for, server_env


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    setattr(item, f"e2e_report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def e2e_env(django_db_setup: None) -> dict[str, str]:
    test_database = settings.DATABASES["default"]["NAME"]
    return server_env(database_url_for(settings.DATABASE_URL, test_database), settings.REDIS_URL)


@pytest.fixture(scope="session")
def launcher(
    e2e_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Launcher]:
    shared = Launcher(e2e_env, tmp_path_factory.mktemp("e2e-logs"))
    yield shared
    shared.stop_all()


@pytest.fixture
def processes(launcher: Launcher) -> Iterator[Launcher]:
    """Processes for this test only."""
    own = Launcher(launcher.env, launcher.log_dir)
    yield own
    own.stop_all()


@pytest.fixture(scope="session")
def web(launcher: Launcher) -> Process:
    return launcher.server("uvicorn")


@pytest.fixture(scope="session")
def web2(launcher: Launcher) -> Process:
    return launcher.server("uvicorn")


@pytest.fixture(scope="session")
def daphne_web(launcher: Launcher) -> Process:
    return launcher.server("daphne")


@pytest.fixture(autouse=True)
def _process_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    marks = {id(p): p.log_size() for p in LIVE}
    first_new = len(STARTED)
    yield
    failed = any(
        getattr(getattr(request.node, f"e2e_report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if not failed:
        return
    involved = [p for p in STARTED if id(p) in marks] + STARTED[first_new:]
    for process in involved:
        print(f"\n----- {process.name} (pid {process.pid}) log during this test -----")
        print(process.log(marks.get(id(process), 0))[-20000:])
