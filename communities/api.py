"""HTTP edge of communities: a community and your role; its bots' API tokens and its overlay
keys (owners only: Action.MANAGE). Secrets are answered once, at creation."""

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from ninja import Path, Router
from ninja.responses import Status

from communities import selectors, services
from communities.models import ApiToken, Community, OverlayKey
from communities.permissions import Action, allowed_actions, require
from communities.schemas import (
    ApiTokenIn,
    ApiTokenOut,
    CommunityOut,
    IssuedApiTokenOut,
    IssuedOverlayKeyOut,
    OverlayKeyIn,
    OverlayKeyOut,
)
from communities.selectors import get_community
from config.schemas import OPTIONAL_AUTH, READ_ERRORS, WRITE_ERRORS, errors

router = Router(tags=["communities"])
_WRITE = errors(WRITE_ERRORS)
_ID = Path(..., ge=1, le=2**31 - 1)


def _managed(request: HttpRequest, slug: str) -> Community:
    community = get_community(slug)
    require(request.actor, Action.MANAGE, community)  # type: ignore[attr-defined]
    return community


def _user(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


@router.get(
    "/{slug}",
    response={200: CommunityOut, **errors(READ_ERRORS)},
    summary="A community and your role",
    openapi_extra=OPTIONAL_AUTH,
)
def community_detail(request: HttpRequest, slug: str) -> CommunityOut:
    community = get_community(slug)
    actor = request.actor  # type: ignore[attr-defined]
    require(actor, Action.READ, community)
    return CommunityOut(
        slug=community.slug,
        name=community.name,
        visibility=community.visibility,
        created_at=community.created_at,
        role=actor.role_in(community),
        caller=actor.kind,
        scopes=sorted(actor.scopes_in(community)),
        allowed=allowed_actions(actor, community),
    )


@router.get(
    "/{slug}/tokens",
    response={200: list[ApiTokenOut], **errors(READ_ERRORS)},
    summary="Owners: the community's API tokens (never their secrets)",
)
def list_tokens(request: HttpRequest, slug: str) -> Any:
    return list(selectors.list_api_tokens(_managed(request, slug)))


@router.post(
    "/{slug}/tokens",
    response={201: IssuedApiTokenOut, **_WRITE},
    summary="Owners: create an API token for a bot (the secret is answered once)",
)
def create_token(request: HttpRequest, slug: str, payload: ApiTokenIn) -> Any:
    issued = services.create_api_token(
        community=_managed(request, slug),
        name=payload.name,
        scopes=payload.scopes,
        created_by=_user(request),
    )
    return Status(201, {**_token_fields(issued.token), "token": issued.secret})


@router.delete(
    "/{slug}/tokens/{token_id}",
    response={200: ApiTokenOut, **_WRITE},
    summary="Owners: revoke an API token (its open streams end within seconds)",
)
def revoke_token(request: HttpRequest, slug: str, token_id: int = _ID) -> Any:
    token = selectors.get_api_token(_managed(request, slug), token_id)
    return services.revoke_api_token(token)


@router.get(
    "/{slug}/overlay-keys",
    response={200: list[OverlayKeyOut], **errors(READ_ERRORS)},
    summary="Owners: the community's overlay keys (never their secrets)",
)
def list_overlay_keys(request: HttpRequest, slug: str) -> Any:
    return list(selectors.list_overlay_keys(_managed(request, slug)))


@router.post(
    "/{slug}/overlay-keys",
    response={201: IssuedOverlayKeyOut, **_WRITE},
    summary="Owners: create a read-only overlay key for OBS (the secret is answered once)",
)
def create_overlay_key(request: HttpRequest, slug: str, payload: OverlayKeyIn) -> Any:
    community = _managed(request, slug)
    issued = services.create_overlay_key(
        community=community, name=payload.name, created_by=_user(request)
    )
    overlay = reverse("overlay", kwargs={"slug": community.slug})
    return Status(
        201,
        {
            **_key_fields(issued.key),
            "key": issued.secret,
            "overlay_url": f"{overlay}?key={issued.secret}",
        },
    )


@router.delete(
    "/{slug}/overlay-keys/{key_id}",
    response={200: OverlayKeyOut, **_WRITE},
    summary="Owners: revoke an overlay key (the overlay stops within seconds)",
)
def revoke_overlay_key(request: HttpRequest, slug: str, key_id: int = _ID) -> Any:
    key = selectors.get_overlay_key(_managed(request, slug), key_id)
    return services.revoke_overlay_key(key)


def _token_fields(token: ApiToken) -> dict[str, Any]:
    return ApiTokenOut.from_orm(token).dict()


def _key_fields(key: OverlayKey) -> dict[str, Any]:
    return OverlayKeyOut.from_orm(key).dict()
