"""Stream topics and who may read them."""

from __future__ import annotations

import enum

from communities.permissions import Action


class Topic(enum.StrEnum):
    PROGRESSION = "progression"
    EVENTS = "events"
    JOBS = "jobs"
    BOARD = "board"
    ADMIN = "admin"


ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic)
DEFAULT_TOPICS: tuple[str, ...] = (Topic.PROGRESSION.value, Topic.EVENTS.value)

# Public communities show progression and events to anyone; the rest is for members. An overlay
# key reads `progression` only (Action.READ_PROGRESSION).
TOPIC_ACTIONS: dict[str, Action] = {
    Topic.PROGRESSION: Action.READ_PROGRESSION,
    Topic.EVENTS: Action.READ,
    Topic.JOBS: Action.READ_MEMBERS,
    Topic.BOARD: Action.READ_MEMBERS,
    Topic.ADMIN: Action.READ_MEMBERS,
}


def group_name(community_id: int, topic: str) -> str:
    return f"community.{community_id}.{topic}"


def access_group(
    *, user_id: int | None = None, token_id: int | None = None, overlay_key_id: int | None = None
) -> str:
    if user_id is not None:
        return f"access.user.{user_id}"
    if overlay_key_id is not None:
        return f"access.overlay.{overlay_key_id}"
    return f"access.token.{token_id}"
