"""The stream client listens for every event type of the catalogue (an EventSource has no
wildcard: a type missing from stream.js would never reach a page)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _catalogue_types() -> set[str]:
    text = (ROOT / "docs" / "events.md").read_text()
    return set(re.findall(r"^\| `((?:progression|events|jobs|board|admin)\.[a-z_.]+)`", text, re.M))


def test_stream_js_listens_for_every_catalogued_type() -> None:
    source = (ROOT / "static" / "js" / "stream.js").read_text()
    block = source.split("var TYPES = [", 1)[1].split("];", 1)[0]
    listened = set(re.findall(r"'([a-z_.]+)'", block))
    catalogued = _catalogue_types()
    assert len(catalogued) > 20
    assert catalogued - listened == set()
