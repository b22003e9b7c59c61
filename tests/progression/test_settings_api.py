"""GET/PATCH /api/communities/<slug>/settings: moderators read, owners change how votes run."""

from __future__ import annotations

import pytest
from django.test import Client

from communities.models import Role
from progression.models import ProgressionSettings
from progression.services.state import settings_for
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def as_role(community, role) -> Client:
    client = Client()
    client.force_login(MembershipFactory(community=community, role=role).user)
    return client


def url(community) -> str:
    return f"/api/communities/{community.slug}/settings"


def test_a_moderator_reads_the_vote_settings_and_every_weight(community):
    answer = as_role(community, Role.MODERATOR).get(url(community))

    assert answer.status_code == 200
    body = answer.json()
    assert body["vote_options"] == 4 and body["vote_window_seconds"] == 30
    assert body["weights"]["subscription"] == "50"


def test_an_owner_changes_only_the_fields_sent_and_the_engine_sees_them(community):
    answer = as_role(community, Role.OWNER).patch(
        url(community),
        {"vote_options": 3, "vote_duration_seconds": 120},
        "application/json",
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["vote_options"] == 3
    assert answer.json()["vote_window_seconds"] == 30
    current = settings_for(community.pk)
    assert (current.vote_options, current.vote_duration_seconds) == (3, 120)


def test_a_null_duration_means_votes_last_until_the_unlock(community):
    ProgressionSettings.objects.create(community=community, vote_duration_seconds=60)

    answer = as_role(community, Role.OWNER).patch(
        url(community), {"vote_duration_seconds": None}, "application/json"
    )

    assert answer.status_code == 200
    assert answer.json()["vote_duration_seconds"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"vote_options": 1},
        {"vote_options": "3"},
        {"vote_options": None},
        {"vote_window_seconds": -1},
        {"rollover_cap": 2.5},
        {"colour": "red"},
    ],
)
def test_bad_settings_are_refused_with_the_field_named_and_nothing_written(community, body):
    answer = as_role(community, Role.OWNER).patch(url(community), body, "application/json")

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]
    assert not ProgressionSettings.objects.filter(community=community).exists()


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.MEMBER])
def test_only_owners_change_settings_as_in_the_admin(community, role):
    answer = as_role(community, role).patch(url(community), {"vote_options": 3}, "application/json")

    assert answer.status_code == 403
    assert not ProgressionSettings.objects.filter(community=community).exists()


def test_a_session_write_without_its_csrf_token_is_refused(community):
    client = Client(enforce_csrf_checks=True)
    client.force_login(MembershipFactory(community=community, role=Role.OWNER).user)

    answer = client.patch(url(community), {"vote_options": 3}, "application/json")

    assert answer.status_code == 403
