"""Every write to communities, memberships, API tokens and overlay keys."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from communities import tokens
from communities.errors import Conflict, InvalidCredentials, InvalidInput
from communities.models import (
    ApiToken,
    Community,
    Membership,
    OverlayKey,
    Role,
    Scope,
    Visibility,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the only time the raw token exists outside the caller's hands


def create_community(*, slug: str, name: str, visibility: str = Visibility.PUBLIC) -> Community:
    if visibility not in Visibility.values:
        raise InvalidInput(
            "Unknown visibility.", fields={"visibility": [f"one of {Visibility.values}"]}
        )
    community = Community(slug=slug, name=name, visibility=visibility)
    try:
        community.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise InvalidInput("Invalid community.", fields=exc.message_dict) from None
    try:
        with transaction.atomic():
            community.save()
    except IntegrityError:
        raise Conflict(f"Community {slug!r} already exists.") from None
    logger.info("community created slug=%s id=%s", slug, community.pk)
    return community


def set_membership(*, community: Community, user: User, role: str) -> Membership:
    if role not in Role.values:
        raise InvalidInput("Unknown role.", fields={"role": [f"one of {Role.values}"]})
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            community=community, user=user, defaults={"role": role}
        )
        _streams_recheck_on_commit(user_id=user.pk)
    logger.info("membership set community=%s user=%s role=%s", community.pk, user.pk, role)
    return membership


def remove_membership(*, community: Community, user: User) -> bool:
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(community=community, user=user).delete()
        _streams_recheck_on_commit(user_id=user.pk)
    logger.info("membership removed community=%s user=%s", community.pk, user.pk)
    return bool(deleted)


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    requested = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    unknown = sorted(set(requested) - set(Scope.values))
    if unknown or not requested:
        message = f"unknown scopes {unknown}" if unknown else "at least one scope is required"
        raise InvalidInput(
            "Invalid token scopes.", fields={"scopes": [f"{message}; choose from {Scope.values}"]}
        )
    return requested


def create_api_token(
    *,
    community: Community,
    name: str,
    scopes: Iterable[str],
    created_by: User | None = None,
) -> IssuedToken:
    name = name.strip()
    if not name:
        raise InvalidInput("A token needs a name.", fields={"name": ["required"]})
    valid_scopes = validate_scopes(scopes)
    raw, prefix, secret_hash = tokens.generate()
    with transaction.atomic():
        token = ApiToken.objects.create(
            community=community,
            name=name[:100],
            prefix=prefix,
            secret_hash=secret_hash,
            scopes=valid_scopes,
            created_by=created_by,
        )
    logger.info(
        "api token created community=%s token=%s scopes=%s", community.pk, token.pk, valid_scopes
    )
    return IssuedToken(token=token, secret=raw)


def revoke_api_token(token: ApiToken) -> ApiToken:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        _streams_recheck_on_commit(token_id=token.pk)
    token.refresh_from_db()
    if updated:
        logger.info("api token revoked community=%s token=%s", token.community_id, token.pk)
    return token


def authenticate_token(raw: str) -> ApiToken:
    """Finds the active token for a raw secret, or refuses with 401. Never says which part failed."""
    prefix = tokens.parse_prefix(raw)
    token = (
        ApiToken.objects.select_related("community").filter(prefix=prefix).first()
        if prefix
        else None
    )
    if token is None or not tokens.matches(raw, token.secret_hash) or not token.is_active:
        raise InvalidCredentials("Invalid or revoked API token.")
    _touch_last_used(token)
    return token


@dataclass(frozen=True)
class IssuedOverlayKey:
    key: OverlayKey
    secret: str  # shown once, in the overlay URL the owner copies into OBS


def create_overlay_key(
    *, community: Community, name: str, created_by: User | None = None
) -> IssuedOverlayKey:
    name = name.strip()
    if not name:
        raise InvalidInput("An overlay key needs a name.", fields={"name": ["required"]})
    raw, prefix, secret_hash = tokens.generate(tokens.OVERLAY_KEY_PREFIX)
    with transaction.atomic():
        key = OverlayKey.objects.create(
            community=community,
            name=name[:100],
            prefix=prefix,
            secret_hash=secret_hash,
            created_by=created_by,
        )
    logger.info("overlay key created community=%s key=%s", community.pk, key.pk)
    return IssuedOverlayKey(key=key, secret=raw)


def revoke_overlay_key(key: OverlayKey) -> OverlayKey:
    """The overlay page answers 404 at once and its open streams end within seconds (the same
    access-change notice as a revoked token)."""
    with transaction.atomic():
        updated = OverlayKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        _streams_recheck_on_commit(overlay_key_id=key.pk)
    key.refresh_from_db()
    if updated:
        logger.info("overlay key revoked community=%s key=%s", key.community_id, key.pk)
    return key


def authenticate_overlay_key(raw: str) -> OverlayKey:
    """The active overlay key for a raw secret, or 401. An API token never passes for one."""
    prefix = tokens.parse_prefix(raw, tokens.OVERLAY_KEY_PREFIX)
    key = (
        OverlayKey.objects.select_related("community").filter(prefix=prefix).first()
        if prefix
        else None
    )
    if key is None or not tokens.matches(raw, key.secret_hash) or not key.is_active:
        raise InvalidCredentials("Invalid or revoked overlay key.")
    _touch_last_used(key)
    return key


def _touch_last_used(token: ApiToken | OverlayKey) -> None:
    """Records use at a coarse resolution so a busy bot does not turn its token into a hot row."""
    now = timezone.now()
    resolution = timedelta(seconds=settings.TOKEN_LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is not None and now - token.last_used_at < resolution:
        return
    type(token).objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


def _streams_recheck_on_commit(
    *, user_id: int | None = None, token_id: int | None = None, overlay_key_id: int | None = None
) -> None:
    """Open streams of this user, token or overlay key re-check their topics in every process."""
    from realtime.services import notify_access_changed_on_commit

    notify_access_changed_on_commit(
        user_id=user_id, token_id=token_id, overlay_key_id=overlay_key_id
    )
