"""The embedded beat finds every scheduled task in a fresh web process (nothing imported yet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import json, django
django.setup()
from config.background import beat_tasks
print(json.dumps({name: task.name for name, task in beat_tasks().items()}))
"""


def test_a_fresh_process_resolves_every_beat_entry_to_a_registered_task():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1")
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    tasks = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    assert expected and tasks == expected
