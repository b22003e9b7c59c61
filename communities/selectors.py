"""Reads the edges need about communities and who is asking."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from communities.errors import CommunityNotFound, NotFound
from communities.models import ApiToken, Community, Membership, OverlayKey
from communities.permissions import ANONYMOUS, Actor


def get_community(slug: str) -> Community:
    community = Community.objects.filter(slug=slug).first() if "\x00" not in slug else None
    if community is None:
        raise CommunityNotFound(slug)
    return community


def actor_for_user(user: User | AnonymousUser | None) -> Actor:
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    roles = dict(Membership.objects.filter(user_id=user.pk).values_list("community_id", "role"))
    return Actor(user_id=user.pk, is_superuser=bool(user.is_superuser), roles=roles)


def actor_for_token(token: ApiToken) -> Actor:
    return Actor(
        token_id=token.pk,
        token_community_id=token.community_id,
        token_scopes=frozenset(token.scopes),
    )


def actor_for_overlay_key(key: OverlayKey) -> Actor:
    return Actor(overlay_key_id=key.pk, overlay_community_id=key.community_id)


def list_api_tokens(community: Community) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(community=community).order_by("revoked_at", "name", "pk")


def list_overlay_keys(community: Community) -> QuerySet[OverlayKey]:
    return OverlayKey.objects.filter(community=community).order_by("revoked_at", "-created_at")


def get_api_token(community: Community, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(community=community, pk=token_id).first()
    if token is None:
        raise NotFound("No such API token.")
    return token


def get_overlay_key(community: Community, key_id: int) -> OverlayKey:
    key = OverlayKey.objects.filter(community=community, pk=key_id).first()
    if key is None:
        raise NotFound("No such overlay key.")
    return key
