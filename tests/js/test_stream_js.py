"""Runs the Node tests of static/js/stream.js (tests/js/*.test.mjs) as part of the pytest suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: the stream.js tests need Node 20+")
def test_stream_js_node_suite() -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [NODE, "--test", "tests/js/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"node --test tests/js/ exited {result.returncode}\n{result.stdout[-8000:]}\n{result.stderr}"
    )
