"""Fixtures shared by the events_app suites (the writers' side).

A bake-along in `community`: cookies (12 per batch) and bracelets (1 per batch); a gift box
is 6 cookies + 1 bracelet; the event (live) aims for 2 batches of cookies and 2 gift boxes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.test import Client

from communities.models import Community
from events_app.models import Bundle, Event, Item
from events_app.services import catalogue
from realtime.models import OutboxEvent


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cookies(community: Community) -> Item:
    return catalogue.create_item(community, name="cookies", yield_per_batch=12, unit="cookie")


@pytest.fixture
def bracelets(community: Community) -> Item:
    return catalogue.create_item(community, name="bracelets", yield_per_batch=1)


@pytest.fixture
def gift_box(community: Community, cookies: Item, bracelets: Item) -> Bundle:
    return catalogue.create_bundle(
        community, name="gift box", components={cookies.pk: 6, bracelets.pk: 1}
    )


@pytest.fixture
def event(community: Community, cookies: Item, gift_box: Bundle) -> Event:
    """Live, with targets: 2 batches of cookies, 2 gift boxes."""
    created = catalogue.create_event(
        community,
        name="Winter bake-along",
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 24),
        status="live",
    )
    catalogue.set_production_target(community, created.pk, cookies.pk, target_batches=2)
    catalogue.set_assembly_target(community, created.pk, gift_box.pk, target_quantity=2)
    return created


def outbox(*types: str) -> list[OutboxEvent]:
    """The events of these types written so far, oldest first."""
    return list(OutboxEvent.objects.filter(type__in=types).order_by("event_id"))


@pytest.fixture
def api(client: Client) -> Callable[..., Any]:
    """api(method, path, body=None, token=None): one request under /api/communities/."""

    def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        kwargs: dict = {"headers": {"Authorization": f"Bearer {token}"} if token else {}}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/api/communities/{path}", **kwargs)

    return call


def error_of(response: Any, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]
