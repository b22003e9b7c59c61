"""`{% asset 'css/app.css' %}`: a static URL with `?v=<content hash>`.

Why not ManifestStaticFilesStorage: the web process serves /static/ straight from the source
folders (config/asgi.py, no collectstatic step) in every mode, and the manifest storage refuses
to render a page until collectstatic has run. A hash of the file's bytes gives the same
guarantee (a changed file gets a new URL, so browsers and OBS never keep a stale copy) with no
build step. The hash is cached per (path, mtime), so an edited file is picked up in DEBUG.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from django import template
from django.contrib.staticfiles import finders
from django.templatetags.static import static

register = template.Library()


@lru_cache(maxsize=256)
def _digest(path: str, mtime: float) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def asset_url(name: str) -> str:
    found = finders.find(name)
    url = static(name)
    if not isinstance(found, str):
        return url  # unknown file: the plain URL (a 404 in the browser, never a broken page)
    return f"{url}?v={_digest(found, os.path.getmtime(found))}"


@register.simple_tag
def asset(name: str) -> str:
    return asset_url(name)
