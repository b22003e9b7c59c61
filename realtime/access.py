"""Who may read which topics of a stream: asked of communities.permissions, at connect and after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from communities.errors import InvalidInput, NotAllowed, NotAuthenticated
from communities.models import ApiToken, Community, OverlayKey
from communities.permissions import ANONYMOUS, Actor, can, require_known
from communities.selectors import (
    actor_for_overlay_key,
    actor_for_token,
    actor_for_user,
    get_community,
)
from communities.services import authenticate_overlay_key, authenticate_token
from config.edge import authenticating, bearer_token, scope_client_address, scope_headers
from realtime.topics import ALL_TOPICS, DEFAULT_TOPICS, TOPIC_ACTIONS, access_group


@dataclass(frozen=True)
class StreamGrant:
    community: Community
    actor: Actor
    topics: frozenset[str]

    @property
    def access_group(self) -> str | None:
        if self.actor.token_id is not None:
            return access_group(token_id=self.actor.token_id)
        if self.actor.overlay_key_id is not None:
            return access_group(overlay_key_id=self.actor.overlay_key_id)
        if self.actor.user_id is not None:
            return access_group(user_id=self.actor.user_id)
        return None


def parse_topics(raw: str | Iterable[str] | None) -> frozenset[str]:
    if raw is None or raw == "":
        return frozenset(DEFAULT_TOPICS)
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    topics = frozenset(str(t).strip() for t in items if str(t).strip())
    unknown = sorted(topics - set(ALL_TOPICS))
    if unknown or not topics:
        raise InvalidInput(
            "Unknown stream topics.",
            fields={"topics": [f"unknown {unknown}; choose from {list(ALL_TOPICS)}"]},
        )
    return topics


def parse_last_event_id(raw: str | int | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = -1
    if value < 0:
        raise InvalidInput(
            "Invalid last event id.", fields={"last_event_id": ["a non-negative integer"]}
        )
    return value


def readable_topics(actor: Actor, community: Community, topics: Iterable[str]) -> set[str]:
    return {topic for topic in topics if can(actor, TOPIC_ACTIONS[topic], community)}


def _actor(authorization: str | None, overlay_key: str | None, user: object) -> Actor:
    """A bearer token (header only), else an overlay key (`?key=`), else the session user."""
    raw = bearer_token(authorization)
    if raw:
        return actor_for_token(authenticate_token(raw))
    if overlay_key is not None:
        return actor_for_overlay_key(authenticate_overlay_key(overlay_key))
    return actor_for_user(user)  # type: ignore[arg-type]


def _grant(
    slug: str,
    authorization: str | None,
    overlay_key: str | None,
    user: object,
    topics: frozenset[str],
) -> StreamGrant:
    actor = _actor(authorization, overlay_key, user)  # who first: 401 before 404, as on routes
    community = get_community(slug)
    require_known(actor, community)
    refused = sorted(set(topics) - readable_topics(actor, community, topics))
    if refused:
        error = NotAuthenticated if actor.is_anonymous else NotAllowed
        raise error(
            f"Not allowed to read {', '.join(refused)} in {community.slug}.",
            fields={"topics": [f"refused: {refused}"]},
        )
    return StreamGrant(community=community, actor=actor, topics=topics)


_grant_in_thread = database_sync_to_async(_grant, thread_sensitive=False)


def _query(scope: Mapping[str, Any]) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


async def grant_stream(
    scope: Mapping[str, Any], slug: str, user: object, topics: frozenset[str]
) -> StreamGrant:
    """The grant for a stream's connect (either transport), under the failed-auth limit of the
    caller's address when it sends a token or an overlay key (`?key=` in the stream's URL)."""
    authorization = scope_headers(scope).get("authorization")
    overlay_key = _query(scope).get("key", [None])[0]

    def call() -> Awaitable[StreamGrant]:
        return _grant_in_thread(slug, authorization, overlay_key, user, topics)

    if not authorization and overlay_key is None:
        return await call()
    return await authenticating(scope_client_address(scope), call)


def _current_actor(actor: Actor) -> Actor | None:
    """The actor as the database has it now; None for a revoked token or overlay key."""
    if actor.token_id is not None:
        token = ApiToken.objects.filter(pk=actor.token_id, revoked_at__isnull=True).first()
        return actor_for_token(token) if token else None
    if actor.overlay_key_id is not None:
        key = OverlayKey.objects.filter(pk=actor.overlay_key_id, revoked_at__isnull=True).first()
        return actor_for_overlay_key(key) if key else None
    if actor.user_id is not None:
        user = get_user_model().objects.filter(pk=actor.user_id, is_active=True).first()
        return actor_for_user(user)
    return ANONYMOUS


def _readable_now(grant: StreamGrant, topics: set[str]) -> set[str]:
    actor = _current_actor(grant.actor)
    if actor is None:  # a revoked token reads nothing at all
        return set()
    community = Community.objects.filter(pk=grant.community.pk).first()
    if community is None:
        return set()
    return readable_topics(actor, community, topics)


def authorizer(grant: StreamGrant) -> Callable[[set[str]], Awaitable[set[str]]]:
    """What the connection calls to re-check its topics after an access change."""
    check = database_sync_to_async(_readable_now, thread_sensitive=False)

    async def authorize(topics: set[str]) -> set[str]:
        return await check(grant, topics)

    return authorize


def snapshot_urls(slug: str, actor: Actor = ANONYMOUS) -> dict[str, str]:
    """What a client refetches after `stream.reset`: only reads that exist (each answers 200 to
    whoever may read the stream; a test fetches every one). `events` is the list of upcoming
    events with their figures (the `events` topic's snapshot). An overlay key reads
    `progression` only (the client adds its own `?key=`: a secret is never echoed back)."""
    base = f"/api/communities/{slug}"
    if actor.overlay_key_id is not None:
        return {"progression": f"{base}/progression"}
    return {
        "community": base,
        "progression": f"{base}/progression",
        "tree": f"{base}/tree",
        "events": f"{base}/events",
    }


def open_stream(grant: StreamGrant, transport: Any) -> Any:
    """The connection for a granted stream, on this process's hub (any transport)."""
    from realtime.connection import StreamConnection
    from realtime.hub import get_hub

    return StreamConnection(
        hub=get_hub(),
        transport=transport,
        community_id=grant.community.pk,
        topics=set(grant.topics),
        access_group=grant.access_group,
        authorize=authorizer(grant),
        snapshot_urls=snapshot_urls(grant.community.slug, grant.actor),
    )
