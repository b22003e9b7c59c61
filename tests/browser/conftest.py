"""Browser tests: Playwright driving Debian's Chromium against a real server.

The server is a uvicorn process on the test database (pytest-django creates it; tests write with
`django_db(transaction=True)` so the server sees committed rows):
- embedded default: SQLite file + in-memory layer; the relay and the tasks run inside the web
  process, exactly as `make run` does;
- PostgreSQL + Redis: uvicorn, the outbox relay and a Celery worker, as the Procfile runs them.

Chromium comes from apt (`apt-get install chromium`; `playwright install` cannot download here).
Without it these tests skip with that reason, except in CI (CI or REQUIRE_REAL_SERVICES set),
where they fail: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.e2e.processes import LIVE, STARTED, Launcher, Process, database_url_for, server_env

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MUST_RUN = bool(os.environ.get("CI")) or os.environ.get("REQUIRE_REAL_SERVICES") == "1"
NO_CHROMIUM = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"


def chromium_missing() -> bool:
    return not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not chromium_missing() or MUST_RUN:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=NO_CHROMIUM))


# Package scope: the server, relay and worker stop once the browser tests are done, so this
# worker never takes the tasks that later suites (tests/e2e) give their own workers.
@pytest.fixture(scope="package")
def browser_launcher(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Launcher]:
    if settings.DATABASE_URL:
        test_database = settings.DATABASES["default"]["NAME"]
        env = server_env(database_url_for(settings.DATABASE_URL, test_database), settings.REDIS_URL)
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        for name in ("DATABASE_URL", "REDIS_URL", "TEST_DB_NAME"):
            env.pop(name, None)
        env.update(
            DEBUG="1",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="config.settings",
            SQLITE_PATH=str(settings.DATABASES["default"]["NAME"]),
        )
    # Every browser test signs in from 127.0.0.1: the per-address sign-in limit (10 in 5
    # minutes) would refuse the later ones (tests/pages tests the limit itself).
    env["SIGN_IN_ATTEMPTS"] = "10000"
    launcher = Launcher(env, tmp_path_factory.mktemp("browser-logs"))
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="package")
def live(browser_launcher: Launcher) -> Process:
    """The web process (and, on PostgreSQL + Redis, the relay and a worker next to it)."""
    web = browser_launcher.server("uvicorn")
    if settings.REDIS_URL:
        from tests.e2e.worker_helpers import start_worker

        browser_launcher.relay()
        start_worker(browser_launcher)
    return web


@pytest.fixture(scope="module")
def browser(live: Process) -> Iterator[Any]:
    """Chromium for one test module. Playwright's sync API keeps an event loop running on this
    thread, and Django refuses ORM calls while one runs; the tests' ORM calls are ordinary
    blocking calls between page actions, so the check is lifted while the browser lives (per
    module, so the rest of the suite keeps it)."""
    if chromium_missing():
        pytest.fail(NO_CHROMIUM + " and CI requires the browser tests to run")
    from playwright.sync_api import sync_playwright

    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            yield chromium
            chromium.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def new_page(browser: Any, live: Process) -> Iterator[Any]:
    """new_page(width=1280, height=900): a page in a fresh context (its own cookies)."""
    contexts = []

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(
            base_url=live.base_url, viewport={"width": width, "height": height}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        for process in LIVE or STARTED:
            print(f"\n----- {process.name} (pid {process.pid}) log -----")
            print(process.log()[-8000:])
    return report
