"""Who may read a community's jobs, as one table for the API and the `jobs` topic tests."""

from __future__ import annotations

from communities.models import Community, Role
from tests.factories import CommunityFactory, MembershipFactory, UserFactory, issue_token

ACTORS = [
    "anonymous",
    "member",
    "moderator",
    "outsider",
    "token_read",
    "token_admin",
    "token_ingest",
    "other_token",
]
# Reading jobs (Action.READ_MEMBERS): members, moderators, tokens with read or admin; never
# the public. In a private community outsiders (and anonymous callers, and other
# communities' tokens) get the 404 of an unknown community.
READ = {
    "public": {
        "anonymous": 401,
        "member": 200,
        "moderator": 200,
        "outsider": 403,
        "token_read": 200,
        "token_admin": 200,
        "token_ingest": 403,
        "other_token": 403,
    },
    "private": {
        "anonymous": 404,
        "member": 200,
        "moderator": 200,
        "outsider": 404,
        "token_read": 200,
        "token_admin": 200,
        "token_ingest": 403,
        "other_token": 404,
    },
}
# Starting, cancelling, retrying (Action.MODERATE): moderators and admin tokens.
MODERATE = {
    visibility: {
        who: 200 if who in ("moderator", "token_admin") else (403 if code in (200, 403) else code)
        for who, code in codes.items()
    }
    for visibility, codes in READ.items()
}


def credentials(place: Community, who: str) -> tuple[object | None, str | None]:
    """(user to sign in, bearer token secret) acting as `who` in `place`."""
    if who in ("member", "moderator"):
        role = Role.MEMBER if who == "member" else Role.MODERATOR
        return MembershipFactory(community=place, role=role).user, None
    if who == "outsider":
        return UserFactory(), None
    if who.startswith("token_"):
        return None, issue_token(place, who.removeprefix("token_")).secret
    if who == "other_token":
        return None, issue_token(CommunityFactory(), "read", "admin").secret
    return None, None
