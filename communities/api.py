from django.http import HttpRequest
from ninja import Router

from communities.permissions import Action, allowed_actions, require
from communities.schemas import CommunityOut
from communities.selectors import get_community
from config.schemas import OPTIONAL_AUTH, READ_ERRORS, errors

router = Router(tags=["communities"])


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
