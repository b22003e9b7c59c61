"""Who may do what, in one table: every actor kind x every action x public and private."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from communities.errors import NotAllowed, NotAuthenticated, NotFound
from communities.models import Community, Role, Scope, Visibility
from communities.permissions import Action, Actor, can, require
from communities.selectors import actor_for_overlay_key, actor_for_token, actor_for_user
from communities.services import authenticate_token, create_overlay_key, revoke_api_token
from tests.factories import CommunityFactory, MembershipFactory, UserFactory, issue_token

PUBLIC, PRIVATE = Visibility.PUBLIC, Visibility.PRIVATE
ACTIONS = (
    Action.READ,
    Action.READ_PROGRESSION,
    Action.READ_MEMBERS,
    Action.INGEST,
    Action.VOTE,
    Action.SUGGEST,
    Action.MODERATE,
    Action.MANAGE,
)
Y, n = True, False

# fmt: off
# read_progression (what an overlay shows) goes with read, except for overlay keys: only it.
# Columns:                             read  progr. read_members  ingest  vote  suggest  moderate  manage
ACCESS = {
    ("owner", PUBLIC):                   (Y,    Y,    Y,    Y,    Y,    Y,    Y,    Y),
    ("owner", PRIVATE):                  (Y,    Y,    Y,    Y,    Y,    Y,    Y,    Y),
    ("moderator", PUBLIC):               (Y,    Y,    Y,    Y,    Y,    Y,    Y,    n),
    ("moderator", PRIVATE):              (Y,    Y,    Y,    Y,    Y,    Y,    Y,    n),
    ("member", PUBLIC):                  (Y,    Y,    Y,    n,    Y,    Y,    n,    n),
    ("member", PRIVATE):                 (Y,    Y,    Y,    n,    Y,    Y,    n,    n),
    # A signed-in non-member may read, vote and suggest in a public community, nothing in a
    # private one.
    ("outsider", PUBLIC):                (Y,    Y,    n,    n,    Y,    Y,    n,    n),
    ("outsider", PRIVATE):               (n,    n,    n,    n,    n,    n,    n,    n),
    # Being the owner of some other community grants nothing here.
    ("owner_elsewhere", PUBLIC):         (Y,    Y,    n,    n,    Y,    Y,    n,    n),
    ("owner_elsewhere", PRIVATE):        (n,    n,    n,    n,    n,    n,    n,    n),
    ("anonymous", PUBLIC):               (Y,    Y,    n,    n,    n,    n,    n,    n),
    ("anonymous", PRIVATE):              (n,    n,    n,    n,    n,    n,    n,    n),
    ("superuser", PUBLIC):               (Y,    Y,    Y,    Y,    Y,    Y,    Y,    Y),
    ("superuser", PRIVATE):              (Y,    Y,    Y,    Y,    Y,    Y,    Y,    Y),
    # Tokens act only through their scopes (a chat bot's ingest relays suggestions too); no
    # token may manage (tokens never mint tokens).
    ("token_ingest", PUBLIC):            (Y,    Y,    n,    Y,    n,    Y,    n,    n),
    ("token_ingest", PRIVATE):           (n,    n,    n,    Y,    n,    Y,    n,    n),
    ("token_vote", PUBLIC):              (Y,    Y,    n,    n,    Y,    n,    n,    n),
    ("token_vote", PRIVATE):             (n,    n,    n,    n,    Y,    n,    n,    n),
    ("token_read", PUBLIC):              (Y,    Y,    Y,    n,    n,    n,    n,    n),
    ("token_read", PRIVATE):             (Y,    Y,    Y,    n,    n,    n,    n,    n),
    ("token_admin", PUBLIC):             (Y,    Y,    Y,    n,    n,    n,    Y,    n),
    ("token_admin", PRIVATE):            (Y,    Y,    Y,    n,    n,    n,    Y,    n),
    # A token with every scope, but for another community: only what anyone may do here.
    ("token_elsewhere", PUBLIC):         (Y,    Y,    n,    n,    n,    n,    n,    n),
    ("token_elsewhere", PRIVATE):        (n,    n,    n,    n,    n,    n,    n,    n),
    # An overlay key travels in URLs: it reads its community's progression and nothing else.
    ("overlay_key", PUBLIC):             (n,    Y,    n,    n,    n,    n,    n,    n),
    ("overlay_key", PRIVATE):            (n,    Y,    n,    n,    n,    n,    n,    n),
    ("overlay_key_elsewhere", PUBLIC):   (n,    n,    n,    n,    n,    n,    n,    n),
    ("overlay_key_elsewhere", PRIVATE):  (n,    n,    n,    n,    n,    n,    n,    n),
}
# fmt: on

CASES = [
    pytest.param(kind, visibility, action, allowed, id=f"{kind}-{visibility}-{action}")
    for (kind, visibility), row in ACCESS.items()
    for action, allowed in zip(ACTIONS, row, strict=True)
]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """A few hundred users are made here; hashing their passwords properly is not the point."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _actor(kind: str, community: Community) -> Actor:
    elsewhere = CommunityFactory()
    roles = {"owner": Role.OWNER, "moderator": Role.MODERATOR, "member": Role.MEMBER}
    if kind in roles:
        return actor_for_user(MembershipFactory(community=community, role=roles[kind]).user)
    if kind == "outsider":
        return actor_for_user(UserFactory())
    if kind == "owner_elsewhere":
        return actor_for_user(MembershipFactory(community=elsewhere, role=Role.OWNER).user)
    if kind == "anonymous":
        return actor_for_user(AnonymousUser())
    if kind == "superuser":
        return actor_for_user(UserFactory(is_superuser=True, is_staff=True))
    if kind == "token_elsewhere":
        return actor_for_token(issue_token(elsewhere, *Scope.values).token)
    if kind.startswith("overlay_key"):
        where = elsewhere if kind.endswith("elsewhere") else community
        return actor_for_overlay_key(create_overlay_key(community=where, name="obs").key)
    scope = kind.removeprefix("token_")
    return actor_for_token(issue_token(community, scope).token)


# Callers with no tie to a community: a private one is as unknown to them as a wrong slug.
OUTSIDERS = {
    "anonymous",
    "outsider",
    "owner_elsewhere",
    "token_elsewhere",
    "overlay_key_elsewhere",
}


def test_the_table_covers_every_action_and_scope():
    assert set(ACTIONS) == set(Action)
    token_kinds = {kind for kind, _ in ACCESS if kind.startswith("token_")}
    assert {f"token_{scope}" for scope in Scope.values} <= token_kinds


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "visibility", "action", "allowed"), CASES)
def test_can_follows_the_access_table(kind, visibility, action, allowed):
    community = CommunityFactory(visibility=visibility)
    actor = _actor(kind, community)

    assert can(actor, action, community) is allowed


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "visibility", "action", "allowed"), CASES)
def test_require_passes_allowed_hides_private_from_outsiders_refuses_anonymous_401_others_403(
    kind, visibility, action, allowed
):
    community = CommunityFactory(visibility=visibility)
    actor = _actor(kind, community)

    if allowed:
        assert require(actor, action, community) is None
        return
    if visibility == PRIVATE and kind in OUTSIDERS:
        with pytest.raises(NotFound) as hidden:
            require(actor, action, community)
        assert hidden.value.status == 404
        assert hidden.value.message == f"No community {community.slug!r}."  # as if unknown
        return
    expected = NotAuthenticated if kind == "anonymous" else NotAllowed
    with pytest.raises(expected) as raised:
        require(actor, action, community)
    assert raised.value.status == (401 if kind == "anonymous" else 403)
    assert community.slug in raised.value.message


@pytest.mark.django_db
@pytest.mark.parametrize("visibility", [PUBLIC, PRIVATE])
def test_a_revoked_token_is_refused_at_authentication_so_it_never_becomes_an_actor(visibility):
    community = CommunityFactory(visibility=visibility)
    issued = issue_token(community, *Scope.values)
    revoke_api_token(issued.token)

    with pytest.raises(NotAuthenticated):
        authenticate_token(issued.secret)
