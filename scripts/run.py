"""`make run`: migrate, seed the demo, print where to look, then start the Procfile processes.

With REDIS_URL set it starts web, worker and beat (honcho reads the Procfile); in the embedded
default only `web` runs, because tasks execute inside the web process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def ensure_postgres_database(url: str) -> None:
    """Creates the database named in DATABASE_URL if the server is up but it does not exist."""
    import psycopg
    from psycopg import sql

    name = str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "")
    if not name:
        return
    admin_url = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created PostgreSQL database {name}")


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if os.environ.get("DATABASE_URL"):
        ensure_postgres_database(os.environ["DATABASE_URL"])
    manage("migrate", "--noinput", "-v", "0")
    manage("seed_demo")
    host = os.environ.setdefault("HOST", "127.0.0.1")
    port = os.environ.setdefault("PORT", "8000")
    base = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"  # noqa: S104
    password = os.environ.get("DEMO_PASSWORD") or "progression-demo"
    real = bool(os.environ.get("REDIS_URL"))
    print(
        "\nProgression Hub is starting\n"
        f"  home           {base}/\n"
        f"  admin          {base}/admin/   (demo login: demo / {password})\n"
        f"  dashboard      {base}/c/demo/   (OBS overlay: {base}/c/demo/overlay/)\n"
        f"  demo community {base}/api/communities/demo\n"
        f"  API docs       {base}/api/docs\n"
        f"  readiness      {base}/readyz\n"
        f"  mode           {'PostgreSQL/Redis with worker and beat' if real else 'embedded (SQLite, in-memory, in-process tasks)'}\n",
        flush=True,
    )
    processes = [] if real else ["web"]
    # The Procfile names bare commands (gunicorn, celery, python): find them in this venv first.
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.call(
        [sys.executable, "-m", "honcho", "start", "-f", "Procfile", *processes], cwd=ROOT, env=env
    )


if __name__ == "__main__":
    sys.exit(main())
