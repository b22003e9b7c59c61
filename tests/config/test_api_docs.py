"""The interactive API docs work without internet: every asset they load is ours."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.asgi_client import asgi_request

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.IGNORECASE)


def get(path: str):
    return asyncio.run(asgi_request("GET", path))


def test_swagger_ui_loads_only_assets_served_by_this_app():
    page = get("/api/docs")

    assert page.status_code == 200
    html = page.content.decode()
    assets = ASSET.findall(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    assert "//" not in "".join(assets), f"external asset in {assets}"
    for asset in assets:
        served = get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 0, asset


def test_swagger_ui_points_at_our_openapi_document():
    html = get("/api/docs").content.decode()

    assert '"url": "/api/openapi.json"' in html
    assert get("/api/openapi.json").status_code == 200
