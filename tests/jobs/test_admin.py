"""Jobs in the admin: a moderator sees only their communities' jobs and cancels or retries
them through the services; another community's job is a 404."""

from __future__ import annotations

import pytest
from django.test import Client

from communities.models import Role
from jobs.models import Job, Status
from tests.factories import CommunityFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_moderator(community):
    user = MembershipFactory(community=community, role=Role.MODERATOR).user
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_a_moderator_sees_only_their_communities_jobs(
    community, staff_moderator, start_job, enqueued
):
    mine = start_job(community)
    theirs = start_job(CommunityFactory())

    listing = staff_moderator.get("/admin/jobs/job/")
    detail = staff_moderator.get(f"/admin/jobs/job/{theirs.pk}/change/")

    assert listing.status_code == 200
    assert str(mine.pk) in listing.content.decode()
    assert str(theirs.pk) not in listing.content.decode()
    assert detail.status_code == 404


def test_the_cancel_and_retry_actions_use_the_services(
    community, staff_moderator, start_job, enqueued
):
    job = start_job(community)

    for action, expected in (("cancel", Status.CANCELLED), ("retry", Status.QUEUED)):
        response = staff_moderator.post(
            "/admin/jobs/job/", {"action": action, "_selected_action": [str(job.pk)]}
        )
        assert response.status_code == 302
        job.refresh_from_db()
        assert job.status == expected
    assert job.attempt == 2
    assert Job.objects.count() == 1
