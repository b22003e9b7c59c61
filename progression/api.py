"""HTTP edge of the progression engine."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import Body, Query, Router

from communities.errors import InvalidInput
from communities.models import Community
from communities.permissions import Action, require
from communities.selectors import get_community
from config.schemas import OPTIONAL_AUTH, READ_ERRORS, WRITE_ERRORS, errors
from progression import selectors
from progression.engagement_io import answer, parse_submission
from progression.schemas import (
    EngagementBatchIn,
    EngagementEventIn,
    EngagementOut,
    ForceUnlockIn,
    LeaderboardScope,
    RelockIn,
    SettingsIn,
    VoteIn,
    VoteOut,
    WeightIn,
)
from progression.services import admin_actions, voting
from progression.services import settings as settings_service
from progression.services.ingest import (
    IngestRequest,
    check_ingest_access,
    record_ingest_requests,
)

router = Router(tags=["progression"])
_ERRORS = errors(WRITE_ERRORS)
_READ = {200: dict[str, Any], **errors(READ_ERRORS)}
_BODY = Body(...)
_LIMIT = Query(20, ge=1, le=100)
# Read by ActorAuth (config/api.py); declared here so the document says where a key may go.
_KEY = Query(None, max_length=200, description="an overlay key (docs/overlay.md)")


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` put in place: OpenAPI has no `#/$defs/...`."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


def _community(request: HttpRequest, slug: str, action: Action) -> Community:
    community = get_community(slug)
    require(request.actor, action, community)  # type: ignore[attr-defined]
    return community


def _who(request: HttpRequest) -> str:
    actor = request.actor  # type: ignore[attr-defined]
    return f"token:{actor.token_id}" if actor.token_id else f"user:{actor.user_id}"


@router.post(
    "/{slug}/engagement",
    response={200: EngagementOut, **_ERRORS},
    summary="Record chat engagement (one event or a batch of up to 1,000)",
    throttle=[],
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _inline(EngagementEventIn.model_json_schema()),
                            _inline(EngagementBatchIn.model_json_schema()),
                        ]
                    }
                }
            },
            "required": True,
        }
    },
)
def post_engagement(request: HttpRequest, slug: str, payload: Any = _BODY) -> Any:
    actor = request.actor  # type: ignore[attr-defined]
    check_ingest_access(slug, actor=actor)  # 404/403 before the body is looked at
    submission = parse_submission(payload)
    (reply,) = record_ingest_requests([IngestRequest(slug, submission, actor=actor)])
    if isinstance(reply, Exception):
        raise reply
    status, body = answer(submission, reply)
    response = JsonResponse(body, status=status)  # already in EngagementOut's shape
    if status == 429:
        response["Retry-After"] = "1"
    return response


@router.get(
    "/{slug}/progression",
    response=_READ,
    summary="Target, accumulated points, up next, open vote, last unlock",
    description="An overlay key (`?key=`) reads this too: it is what an OBS overlay shows.",
    openapi_extra=OPTIONAL_AUTH,
)
def get_status(request: HttpRequest, slug: str, key: str | None = _KEY) -> Any:
    return selectors.progression_status(_community(request, slug, Action.READ_PROGRESSION))


@router.get(
    "/{slug}/tree", response=_READ, summary="Every node with its state", openapi_extra=OPTIONAL_AUTH
)
def get_tree(request: HttpRequest, slug: str) -> Any:
    return {"nodes": selectors.tree_with_state(_community(request, slug, Action.READ))}


@router.get(
    "/{slug}/leaderboard",
    response=_READ,
    summary="Top contributors this cycle, season or all time",
    openapi_extra=OPTIONAL_AUTH,
)
def get_leaderboard(
    request: HttpRequest, slug: str, scope: LeaderboardScope = "cycle", limit: int = _LIMIT
) -> Any:
    return {
        "scope": scope,
        "entries": selectors.leaderboard(_community(request, slug, Action.READ), scope, limit),
    }


@router.get(
    "/{slug}/unlocks",
    response=_READ,
    summary="Recent unlocks, newest first (relocked ones marked)",
    openapi_extra=OPTIONAL_AUTH,
)
def get_unlocks(request: HttpRequest, slug: str, limit: int = _LIMIT) -> Any:
    return {"unlocks": selectors.recent_unlocks(_community(request, slug, Action.READ), limit)}


@router.get(
    "/{slug}/viewers/{platform_user_id}/contributions",
    response=_READ,
    summary="A viewer's own contributions",
    openapi_extra=OPTIONAL_AUTH,
)
def get_viewer(request: HttpRequest, slug: str, platform_user_id: str) -> Any:
    from communities.errors import NotFound

    found = selectors.viewer_contributions(_community(request, slug, Action.READ), platform_user_id)
    if found is None:
        raise NotFound("No such viewer.")
    return found


@router.get(
    "/{slug}/effects",
    response=_READ,
    summary="Effects of unlocked nodes, for bots",
    openapi_extra=OPTIONAL_AUTH,
)
def get_effects(request: HttpRequest, slug: str) -> Any:
    return {"effects": selectors.unlocked_effects(_community(request, slug, Action.READ))}


@router.post(
    "/{slug}/votes",
    response={200: VoteOut, **_ERRORS},
    summary="Cast a vote (one per viewer per session)",
)
def post_vote(request: HttpRequest, slug: str, payload: VoteIn) -> Any:
    community = _community(request, slug, Action.VOTE)
    actor = request.actor  # type: ignore[attr-defined]
    if actor.token_id is not None:
        if not payload.platform_user_id:
            raise InvalidInput(
                "A bot votes on behalf of a viewer.",
                fields={"platform_user_id": ["required with a token"]},
            )
        voter = f"viewer:{payload.platform_user_id}"
    else:
        voter = f"user:{actor.user_id}"
    option = payload.option
    if isinstance(option, str) and option.isdigit():
        option = int(option)
    chosen = voting.cast_vote(community, voter=voter, option=option)
    return {
        "session_id": chosen.session_id,
        "option": chosen.position,
        "key": chosen.node.key,
        "level": chosen.level,
        "votes": chosen.votes,
    }


@router.get(
    "/{slug}/votes/mine",
    response=_READ,
    summary="The open vote and your own choice in it (signed-in viewers)",
    openapi_extra=OPTIONAL_AUTH,
)
def get_my_vote(request: HttpRequest, slug: str) -> Any:
    community = _community(request, slug, Action.READ)
    actor = request.actor  # type: ignore[attr-defined]
    voter = f"user:{actor.user_id}" if actor.user_id is not None and not actor.token_id else None
    return selectors.my_ballot(community, voter)


@router.post(
    "/{slug}/votes/start", response={200: dict, **_ERRORS}, summary="Moderators: open a vote"
)
def post_vote_start(request: HttpRequest, slug: str) -> Any:
    from progression.events import vote_payload

    return vote_payload(voting.start_vote(_community(request, slug, Action.MODERATE)))


@router.post(
    "/{slug}/votes/close",
    response={200: dict, **_ERRORS},
    summary="Moderators: resolve the vote now",
)
def post_vote_close(request: HttpRequest, slug: str) -> Any:
    winner = voting.close_vote(_community(request, slug, Action.MODERATE))
    return {"winner": {"key": winner.node.key, "level": winner.level} if winner else None}


@router.post(
    "/{slug}/votes/freeze",
    response={200: dict, **_ERRORS},
    summary="Moderators: freeze the vote (deadline pauses)",
)
def post_vote_freeze(request: HttpRequest, slug: str) -> Any:
    from progression.events import vote_payload

    return vote_payload(voting.freeze_vote(_community(request, slug, Action.MODERATE)))


@router.post(
    "/{slug}/votes/unfreeze",
    response={200: dict, **_ERRORS},
    summary="Moderators: unfreeze the vote",
)
def post_vote_unfreeze(request: HttpRequest, slug: str) -> Any:
    from progression.events import vote_payload

    return vote_payload(voting.unfreeze_vote(_community(request, slug, Action.MODERATE)))


@router.post(
    "/{slug}/nodes/{key}/force-unlock",
    response={200: dict, **_ERRORS},
    summary="Admins: unlock a node's next level without points",
    description='Unmet prerequisites are a 409 listing them, unless `{"ignore_prerequisites": true}`.',
)
def post_force_unlock(
    request: HttpRequest, slug: str, key: str, payload: ForceUnlockIn | None = None
) -> Any:
    unlock = admin_actions.force_unlock(
        _community(request, slug, Action.MODERATE),
        key,
        by=_who(request),
        ignore_prerequisites=payload is not None and payload.ignore_prerequisites,
    )
    return {"key": key, "level": unlock.level, "reason": unlock.reason}


@router.post(
    "/{slug}/nodes/{key}/relock",
    response={200: dict, **_ERRORS},
    summary="Admins: relock a node's highest level",
)
def post_relock(request: HttpRequest, slug: str, key: str, payload: RelockIn) -> Any:
    relocked = admin_actions.relock(
        _community(request, slug, Action.MODERATE), key, cascade=payload.cascade, by=_who(request)
    )
    return {"relocked": relocked}


@router.post(
    "/{slug}/season/reset",
    response={200: dict, **_ERRORS},
    summary="Admins: start a new season (history kept)",
)
def post_reset(request: HttpRequest, slug: str) -> Any:
    season = admin_actions.reset_season(
        _community(request, slug, Action.MODERATE), by=_who(request)
    )
    return {"season": season.number}


@router.put(
    "/{slug}/weights/{metric}",
    response={200: dict, **_ERRORS},
    summary="Owners: set a metric's weight",
)
def put_weight(request: HttpRequest, slug: str, metric: str, payload: WeightIn) -> Any:
    community = _community(request, slug, Action.MODERATE)
    if not metric.isidentifier():
        raise InvalidInput("Unknown metric name.", fields={"metric": ["letters, digits and _"]})
    admin_actions.set_weight(community, metric, payload.weight)
    from progression.weights import weights_for

    return {"metric": metric, "weight": str(weights_for(community.pk)[metric])}


@router.get(
    "/{slug}/settings",
    response=_READ,
    summary="Moderators: vote settings, rollover cap and every metric's weight",
)
def get_settings(request: HttpRequest, slug: str) -> Any:
    return selectors.community_settings(_community(request, slug, Action.MODERATE))


@router.patch(
    "/{slug}/settings",
    response={200: dict[str, Any], **_ERRORS},
    summary="Owners: change vote settings or the rollover cap (only the fields sent)",
)
def patch_settings(request: HttpRequest, slug: str, payload: SettingsIn) -> Any:
    community = _community(request, slug, Action.MANAGE)  # as in the admin: owners only
    settings_service.update_settings(community, payload.dict(exclude_unset=True), by=_who(request))
    return selectors.community_settings(community)
