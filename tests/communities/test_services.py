"""Writes to communities, memberships and tokens: database state and refusals."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communities.errors import Conflict, InvalidInput, NotAuthenticated
from communities.models import ApiToken, Community, Membership, Role
from communities.services import (
    authenticate_token,
    create_api_token,
    create_community,
    revoke_api_token,
    set_membership,
    validate_scopes,
)
from tests.factories import CommunityFactory, UserFactory, issue_token

pytestmark = pytest.mark.django_db


def _updates(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")
    ]


# --- issuing tokens ------------------------------------------------------------------------


def test_issued_token_secret_is_returned_once_and_only_its_sha256_is_stored(community):
    issued = create_api_token(community=community, name="  overlay bot  ", scopes=["read"])

    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.secret.startswith(f"ph_{stored.prefix}_")
    assert stored.secret_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert stored.name == "overlay bot"
    assert stored.scopes == ["read"]
    secret_part = issued.secret.split("_", 2)[2]  # the secret may itself hold "_"
    for value in ApiToken.objects.filter(pk=stored.pk).values().get().values():
        assert secret_part not in str(value)
    assert not hasattr(stored, "secret")


def test_each_issued_token_has_its_own_secret_and_prefix(community):
    first, second = issue_token(community, "read"), issue_token(community, "read")

    assert first.secret != second.secret
    assert first.token.prefix != second.token.prefix


def test_a_token_without_a_name_is_refused_and_nothing_is_stored(community):
    with pytest.raises(InvalidInput) as raised:
        create_api_token(community=community, name="   ", scopes=["read"])

    assert raised.value.fields == {"name": ["required"]}
    assert not ApiToken.objects.exists()


# --- scopes --------------------------------------------------------------------------------


def test_scopes_are_trimmed_and_deduplicated_in_order():
    assert validate_scopes([" vote", "read", "vote ", "read"]) == ["vote", "read"]


@pytest.mark.parametrize("scopes", [["read", "delete"], ["READ"], ["superpower"]])
def test_unknown_scopes_are_refused_naming_them(scopes):
    with pytest.raises(InvalidInput) as raised:
        validate_scopes(scopes)

    assert "scopes" in raised.value.fields
    assert "unknown scopes" in raised.value.fields["scopes"][0]


@pytest.mark.parametrize("scopes", [[], [""], ["  ", ""]])
def test_a_token_needs_at_least_one_scope(scopes):
    with pytest.raises(InvalidInput) as raised:
        validate_scopes(scopes)

    assert "at least one scope" in raised.value.fields["scopes"][0]


def test_a_token_with_an_unknown_scope_is_not_stored(community):
    with pytest.raises(InvalidInput):
        create_api_token(community=community, name="bot", scopes=["read", "root"])

    assert not ApiToken.objects.exists()


# --- authenticating tokens -----------------------------------------------------------------


def test_a_valid_secret_authenticates_its_token(community):
    issued = issue_token(community, "ingest")

    token = authenticate_token(issued.secret)

    assert token.pk == issued.token.pk
    assert token.community == community


def test_a_tampered_secret_is_refused(community):
    issued = issue_token(community, "ingest")
    last = issued.secret[-1]
    tampered = issued.secret[:-1] + ("A" if last != "A" else "B")

    with pytest.raises(NotAuthenticated):
        authenticate_token(tampered)


def test_a_secret_with_another_tokens_prefix_is_refused(community):
    mine, theirs = issue_token(community, "read"), issue_token(community, "admin")
    forged = f"ph_{theirs.token.prefix}_{mine.secret.rsplit('_', 1)[1]}"

    with pytest.raises(NotAuthenticated):
        authenticate_token(forged)


@pytest.mark.parametrize("raw", ["", "ph_", "not-a-token", "ph_abc_def"])
def test_malformed_secrets_are_refused(raw):
    with pytest.raises(NotAuthenticated):
        authenticate_token(raw)


def test_a_revoked_token_is_refused(community):
    issued = issue_token(community, "read")

    revoked = revoke_api_token(issued.token)

    assert revoked.revoked_at is not None
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    with pytest.raises(NotAuthenticated):
        authenticate_token(issued.secret)


def test_revoking_twice_keeps_the_first_revocation_time(community):
    issued = issue_token(community, "read")
    first = revoke_api_token(issued.token).revoked_at

    second = revoke_api_token(issued.token).revoked_at

    assert second == first


# --- last used -----------------------------------------------------------------------------


def test_first_use_records_last_used_at(community):
    issued = issue_token(community, "read")
    before = timezone.now()

    authenticate_token(issued.secret)

    last_used = ApiToken.objects.get(pk=issued.token.pk).last_used_at
    assert last_used is not None
    assert last_used >= before


def test_last_used_at_is_written_at_most_once_per_resolution_window(community, settings):
    settings.TOKEN_LAST_USED_RESOLUTION_SECONDS = 60
    issued = issue_token(community, "read")
    authenticate_token(issued.secret)
    first = ApiToken.objects.get(pk=issued.token.pk).last_used_at

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            authenticate_token(issued.secret)

    assert _updates(queries) == []
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at == first


def test_last_used_at_is_written_again_once_the_window_has_passed(community, settings):
    settings.TOKEN_LAST_USED_RESOLUTION_SECONDS = 60
    issued = issue_token(community, "read")
    stale = timezone.now() - timedelta(seconds=61)
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=stale)

    with CaptureQueriesContext(connection) as queries:
        authenticate_token(issued.secret)

    assert len(_updates(queries)) == 1
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at > stale


# --- communities and memberships -----------------------------------------------------------


def test_create_community_stores_it():
    community = create_community(slug="speedrunners", name="Speedrunners", visibility="private")

    stored = Community.objects.get(pk=community.pk)
    assert (stored.slug, stored.name, stored.visibility) == (
        "speedrunners",
        "Speedrunners",
        "private",
    )


def test_a_duplicate_slug_is_a_conflict_and_stores_nothing():
    create_community(slug="speedrunners", name="Speedrunners")

    with pytest.raises(Conflict) as raised:
        create_community(slug="speedrunners", name="Other")

    assert raised.value.status == 409
    assert Community.objects.filter(slug="speedrunners").count() == 1
    assert Community.objects.get(slug="speedrunners").name == "Speedrunners"


def test_a_duplicate_slug_inserted_by_a_concurrent_writer_is_still_a_conflict(monkeypatch):
    """The check-then-insert race: another writer commits the slug after our check passed."""
    real_full_clean = Community.full_clean

    def full_clean_then_lose_the_race(self, *args, **kwargs):
        real_full_clean(self, *args, **kwargs)
        Community.objects.create(slug=self.slug, name="Winner")

    monkeypatch.setattr(Community, "full_clean", full_clean_then_lose_the_race)

    with pytest.raises(Conflict):
        create_community(slug="speedrunners", name="Loser")


def test_an_unknown_visibility_is_invalid_input():
    with pytest.raises(InvalidInput) as raised:
        create_community(slug="speedrunners", name="Speedrunners", visibility="secret")

    assert "visibility" in raised.value.fields
    assert not Community.objects.exists()


@pytest.mark.parametrize("slug", ["Speedrunners", "a" * 51])
def test_a_malformed_slug_is_invalid_input_naming_the_slug_field(slug):
    with pytest.raises(InvalidInput) as raised:
        create_community(slug=slug, name="Speedrunners")

    assert "slug" in (raised.value.fields or {})
    assert not Community.objects.exists()


def test_setting_a_membership_twice_changes_the_role_of_the_one_row():
    community, user = CommunityFactory(), UserFactory()

    set_membership(community=community, user=user, role=Role.MEMBER)
    set_membership(community=community, user=user, role=Role.MODERATOR)

    memberships = Membership.objects.filter(community=community, user=user)
    assert [m.role for m in memberships] == [Role.MODERATOR]


def test_an_unknown_role_is_invalid_input():
    with pytest.raises(InvalidInput):
        set_membership(community=CommunityFactory(), user=UserFactory(), role="king")

    assert not Membership.objects.exists()


def test_the_database_refuses_a_second_membership_for_the_same_pair():
    community, user = CommunityFactory(), UserFactory()
    Membership.objects.create(community=community, user=user, role=Role.MEMBER)

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(community=community, user=user, role=Role.OWNER)

    assert Membership.objects.filter(community=community, user=user).count() == 1
