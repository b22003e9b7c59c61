"""Assets are local and versioned by their content: a changed file gets a new URL."""

from __future__ import annotations

import re

from pages.templatetags.assets import asset_url


def test_an_asset_url_carries_a_hash_of_its_content() -> None:
    url = asset_url("css/app.css")
    assert re.fullmatch(r"/static/css/app\.css\?v=[0-9a-f]{12}", url)
    assert asset_url("css/app.css") == url


def test_an_unknown_asset_keeps_its_plain_url() -> None:
    assert asset_url("css/missing.css") == "/static/css/missing.css"


def test_pages_load_no_third_party_assets(client, db) -> None:  # noqa: ANN001
    from scripts.demo_pages import seed_community

    seed_community("assets")
    for path in ("/", "/c/assets/", "/accounts/login/", "/accounts/signup/"):
        page = client.get(path).content.decode()
        for src in re.findall(r'(?:src|href)="([^"]+)"', page):
            assert not src.startswith(("http:", "https:", "//")), (path, src)
