"""Reads the edges need about communities and who is asking."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from communities.errors import CommunityNotFound
from communities.models import ApiToken, Community, Membership
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
