"""The one answer to "may this user or token do this in this community?".

Views, streams, tasks and the admin all ask here; nothing else decides access. An `Actor` is
whoever is asking: a signed-in person, a bot's API token, an overlay key, or nobody.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from communities.errors import CommunityNotFound, NotAllowed, NotAuthenticated
from communities.models import Community, Role, Scope


class Action(enum.StrEnum):
    READ = "read"  # public state: progression, events
    # The progression state and topic alone: what an OBS overlay shows. Whoever may READ may
    # do this; an overlay key may do only this (docs/overlay.md).
    READ_PROGRESSION = "read_progression"
    READ_MEMBERS = "read_members"  # member-only topics: jobs, board, admin
    INGEST = "ingest"  # send engagement
    VOTE = "vote"  # cast a vote
    SUGGEST = "suggest"  # suggest a new tree node (a viewer, or a bot relaying chat)
    MODERATE = "moderate"  # run votes, force unlocks, manage the tree
    MANAGE = "manage"  # tokens, memberships, community settings


@dataclass(frozen=True)
class Actor:
    """Who is asking. Built once per request or connection; holds ids and facts, not models."""

    user_id: int | None = None
    is_superuser: bool = False
    token_id: int | None = None
    token_community_id: int | None = None
    token_scopes: frozenset[str] = field(default_factory=frozenset)
    roles: dict[int, str] = field(default_factory=dict)  # community id -> role, for users
    overlay_key_id: int | None = None
    overlay_community_id: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.token_id is None and self.overlay_key_id is None

    @property
    def kind(self) -> str:
        if self.token_id is not None:
            return "token"
        if self.overlay_key_id is not None:
            return "overlay_key"
        return "anonymous" if self.user_id is None else "user"

    def role_in(self, community: Community) -> str | None:
        return self.roles.get(community.pk)

    def scopes_in(self, community: Community) -> frozenset[str]:
        if self.token_id is None or self.token_community_id != community.pk:
            return frozenset()
        return self.token_scopes


ANONYMOUS = Actor()

_ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.MODERATOR: frozenset(
        {
            Action.READ,
            Action.READ_MEMBERS,
            Action.INGEST,
            Action.VOTE,
            Action.SUGGEST,
            Action.MODERATE,
        }
    ),
    Role.MEMBER: frozenset({Action.READ, Action.READ_MEMBERS, Action.VOTE, Action.SUGGEST}),
}
_SCOPE_ACTIONS: dict[str, frozenset[Action]] = {
    Scope.READ: frozenset({Action.READ, Action.READ_MEMBERS}),
    Scope.INGEST: frozenset({Action.INGEST, Action.SUGGEST}),  # bots relay "!suggest ..." too
    Scope.VOTE: frozenset({Action.VOTE}),
    Scope.ADMIN: frozenset({Action.READ, Action.READ_MEMBERS, Action.MODERATE}),
}
# What any signed-in person may do in a public community, member or not.
_VIEWER_ACTIONS = frozenset({Action.VOTE, Action.SUGGEST})


def can(actor: Actor, action: Action, community: Community) -> bool:
    if actor.overlay_key_id is not None:  # it travels in URLs: the one read an overlay needs
        return action == Action.READ_PROGRESSION and actor.overlay_community_id == community.pk
    if action == Action.READ_PROGRESSION:
        action = Action.READ
    if actor.is_superuser:
        return True
    if action == Action.READ and community.is_public:
        return True
    if action in _VIEWER_ACTIONS and community.is_public and actor.user_id is not None:
        return True  # any signed-in viewer may vote and suggest in a public community
    role = actor.role_in(community)
    if role is not None and action in _ROLE_ACTIONS[role]:
        return True
    return any(action in _SCOPE_ACTIONS.get(scope, ()) for scope in actor.scopes_in(community))


def knows_of(actor: Actor, community: Community) -> bool:
    """Whether the caller may learn that this community exists: anyone for a public one; for a
    private one its members, its own tokens and overlay keys, and superusers."""
    return (
        community.is_public
        or actor.is_superuser
        or actor.role_in(community) is not None
        or (actor.token_id is not None and actor.token_community_id == community.pk)
        or (actor.overlay_key_id is not None and actor.overlay_community_id == community.pk)
    )


def require_known(actor: Actor, community: Community) -> None:
    """Outsiders of a private community get exactly the 404 of an unknown slug."""
    if not knows_of(actor, community):
        raise CommunityNotFound(community.slug)


def require(actor: Actor, action: Action, community: Community) -> None:
    """Raises 404 for outsiders of a private community (as if it did not exist), 401 for
    nobody (credentials would help) and 403 for someone not allowed."""
    if can(actor, action, community):
        return
    require_known(actor, community)
    if actor.is_anonymous:
        raise NotAuthenticated(f"Sign in or send a token to {action.value} in {community.slug}.")
    raise NotAllowed(f"Not allowed to {action.value} in {community.slug}.")


def allowed_actions(actor: Actor, community: Community) -> list[str]:
    return [action.value for action in Action if can(actor, action, community)]
