"""The layering the style guide promises, checked on the source: selectors are reads and never
import services (not even inside a function), so a read can never start a write."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_selector_imports_a_service():
    selectors = sorted(ROOT.glob("*/selectors.py")) + sorted(ROOT.glob("*/selectors/*.py"))
    assert selectors, "no selectors found: the glob is wrong"
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imported_modules(path) if ".services" in f".{name}"
        )
        for path in selectors
    }
    assert {path: names for path, names in offenders.items() if names} == {}
