"""Engagement weights per community and metric: defaults, admin overrides, cached per process."""

from __future__ import annotations

from decimal import Decimal

from progression import cache
from progression.models import EngagementWeight

DEFAULT_WEIGHTS: dict[str, Decimal] = {
    "message": Decimal("1"),
    "command": Decimal("1"),
    "follow": Decimal("5"),
    "subscription": Decimal("50"),
    "gift_subscription": Decimal("50"),
    "cheer": Decimal("0.1"),  # per bit: 500 bits = 50 points, like a subscription
    "raid": Decimal("1"),  # per raider
    "vote": Decimal("2"),
}


def weights_key(community_id: int) -> str:
    return f"weights:{community_id}"


def weights_for(community_id: int) -> dict[str, Decimal]:
    def load() -> dict[str, Decimal]:
        overrides = EngagementWeight.objects.filter(community_id=community_id).values_list(
            "metric", "weight"
        )
        return {**DEFAULT_WEIGHTS, **dict(overrides)}

    return cache.cached(weights_key(community_id), load)
