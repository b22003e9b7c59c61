"""A community's progression knobs, changed by its owners from the console (or any client of
the API). The limits below are the one home of what a usable value is."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from communities.errors import InvalidInput
from communities.models import Community
from progression import cache
from progression.models import ProgressionSettings
from progression.services.state import settings_key

logger = logging.getLogger(__name__)

# field -> (least, most); None for vote_duration_seconds means "until the target unlocks".
LIMITS: dict[str, tuple[int, int]] = {
    "vote_options": (2, 10),
    "vote_duration_seconds": (10, 86_400),
    "vote_window_seconds": (0, 3_600),
    "rollover_cap": (0, 10_000_000),
}
NULLABLE = frozenset({"vote_duration_seconds"})


def _check(changes: dict[str, Any]) -> None:
    problems: dict[str, list[str]] = {}
    for name, value in changes.items():
        if name not in LIMITS:
            problems[name] = [f"not a setting; choose from {sorted(LIMITS)}"]
            continue
        if value is None and name in NULLABLE:
            continue
        low, high = LIMITS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems[name] = [f"an integer from {low} to {high}"]
    if problems:
        raise InvalidInput("Invalid settings.", fields=problems)


def update_settings(community: Community, changes: dict[str, Any], *, by: str) -> None:
    """Applies every change or none. Running votes keep their deadline; the next vote uses the
    new values."""
    _check(changes)
    with transaction.atomic(durable=True):
        row, _ = ProgressionSettings.objects.select_for_update().get_or_create(community=community)
        for name, value in changes.items():
            setattr(row, name, value)
        row.save()
        cache.invalidate_on_commit(settings_key(community.pk))
    logger.info("settings changed community=%s %s by=%s", community.pk, changes, by)
