"""The jobs API: moderators start, cancel and retry; members read; nobody else sees a job,
whatever the community's visibility, and a job id of another community is a 404."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from jobs.models import Job, Status
from tests.factories import CommunityFactory
from tests.jobs.actors import ACTORS, MODERATE, READ, credentials

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=["public", "private"])
def place(request):
    return CommunityFactory(visibility=request.param)


def caller(place, who: str) -> tuple[Client, dict[str, str]]:
    """A test client and headers acting as `who` in `place`."""
    user, token = credentials(place, who)
    client = Client()
    if user is not None:
        client.force_login(user)
    return client, ({"Authorization": f"Bearer {token}"} if token else {})


def post(client: Client, path: str, body: dict | None = None, headers=None):
    return client.post(
        path, data=json.dumps(body or {}), content_type="application/json", headers=headers or {}
    )


@pytest.mark.parametrize("who", ACTORS)
def test_reading_jobs_is_for_members_moderators_and_read_tokens_only(place, who, start_job):
    job = start_job(place, params={"units": 3})
    client, headers = caller(place, who)
    expected = READ[place.visibility][who]

    listing = client.get(f"/api/communities/{place.slug}/jobs", headers=headers)
    detail = client.get(f"/api/communities/{place.slug}/jobs/{job.pk}", headers=headers)

    assert listing.status_code == expected, listing.content
    assert detail.status_code == expected, detail.content
    if expected == 200:
        assert [item["id"] for item in listing.json()["items"]] == [str(job.pk)]
        assert detail.json()["status"] == "queued"
    else:
        assert "error" in detail.json() and str(job.pk) not in detail.content.decode()


@pytest.mark.parametrize("who", ACTORS)
def test_starting_a_job_is_for_moderators_and_admin_tokens_only(place, who):
    client, headers = caller(place, who)
    expected = MODERATE[place.visibility][who]

    response = post(
        client, f"/api/communities/{place.slug}/jobs", {"kind": "selftest"}, headers=headers
    )

    assert response.status_code == (201 if expected == 200 else expected), response.content
    assert Job.objects.filter(community=place).count() == (1 if expected == 200 else 0)


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_cancel_and_retry_are_for_moderators_and_admin_tokens_only(place, who, action, start_job):
    job = start_job(place)
    if action == "retry":
        Job.objects.filter(pk=job.pk).update(status=Status.CANCELLED, finished_at=job.created_at)
    client, headers = caller(place, who)
    expected = MODERATE[place.visibility][who]

    response = post(
        client, f"/api/communities/{place.slug}/jobs/{job.pk}/{action}", headers=headers
    )

    assert response.status_code == expected, response.content
    job.refresh_from_db()
    if expected == 200:
        assert job.status == (Status.CANCELLED if action == "cancel" else Status.QUEUED)
    else:
        assert job.status == (Status.QUEUED if action == "cancel" else Status.CANCELLED)


def test_a_job_id_of_another_community_is_not_found(community, start_job, moderator):
    elsewhere = start_job(CommunityFactory())
    client = Client()
    client.force_login(moderator)

    for path in ("", "/cancel", "/retry"):
        method = client.get if not path else client.post
        response = method(f"/api/communities/{community.slug}/jobs/{elsewhere.pk}{path}")
        assert response.status_code == 404, (path, response.content)
        assert response.json()["error"]["code"] == "not_found"


def test_a_malformed_or_unknown_job_id_is_not_found(community, member):
    client = Client()
    client.force_login(member)
    for job_id in ("not-a-uuid", str(uuid.uuid4())):
        response = client.get(f"/api/communities/{community.slug}/jobs/{job_id}")
        assert response.status_code == 404


def test_an_unknown_kind_is_refused_with_400_naming_the_field(community, moderator):
    client = Client()
    client.force_login(moderator)

    response = post(client, f"/api/communities/{community.slug}/jobs", {"kind": "nope"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "kind" in error["fields"]
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "params, field",
    [
        ({"units": 0}, "params.units"),
        ({"units": "5"}, "params.units"),
        ({"units": 5, "colour": "red"}, "params.colour"),
        ({"delay_ms": -1}, "params.delay_ms"),
    ],
)
def test_bad_parameters_are_refused_with_400_naming_each_field(community, moderator, params, field):
    client = Client()
    client.force_login(moderator)

    response = post(
        client, f"/api/communities/{community.slug}/jobs", {"kind": "selftest", "params": params}
    )

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Job.objects.exists()


def test_a_created_job_is_queued_with_its_validated_parameters_and_who_started_it(
    community, moderator
):
    client = Client()
    client.force_login(moderator)

    response = post(
        client,
        f"/api/communities/{community.slug}/jobs",
        {"kind": "selftest", "params": {"units": 4}},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued" and body["stage"] == "warming" and body["percent"] == 0
    assert body["params"] == {"units": 4, "delay_ms": 0, "fail_at": None}
    assert body["started_by"] == {"user": moderator.pk}
    assert body["stages"] == ["warming", "counting", "summing", "complete"]


def test_a_session_post_without_csrf_token_is_refused(community, moderator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)

    response = post(client, f"/api/communities/{community.slug}/jobs", {"kind": "selftest"})

    assert response.status_code == 403
    assert not Job.objects.exists()


def test_listing_filters_by_status_and_kind_and_pages(community, member, start_job):
    jobs = [start_job(community) for _ in range(5)]
    Job.objects.filter(pk=jobs[0].pk).update(
        status=Status.CANCELLED, finished_at=jobs[0].created_at
    )
    client = Client()
    client.force_login(member)
    base = f"/api/communities/{community.slug}/jobs"

    queued = client.get(base, {"status": "queued"}).json()
    cancelled = client.get(base, {"status": "cancelled", "kind": "selftest"}).json()
    other_kind = client.get(base, {"kind": "generate_proposals"}).json()
    page = client.get(base, {"limit": 2, "offset": 2}).json()

    assert queued["count"] == 4 and len(queued["items"]) == 4
    assert [item["id"] for item in cancelled["items"]] == [str(jobs[0].pk)]
    assert other_kind["count"] == 0
    assert page["count"] == 5 and len(page["items"]) == 2
    assert client.get(base, {"status": "bogus"}).status_code == 400


def test_a_kind_filter_that_cannot_name_a_kind_is_refused_with_the_field(community, member):
    client = Client()
    client.force_login(member)

    response = client.get(f"/api/communities/{community.slug}/jobs", {"kind": "-31098152"})

    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]


def test_cancelling_a_finished_job_is_a_conflict(community, moderator, start_job):
    job = start_job(community)
    client = Client()
    client.force_login(moderator)
    path = f"/api/communities/{community.slug}/jobs/{job.pk}"

    assert post(client, f"{path}/cancel").status_code == 200
    again = post(client, f"{path}/cancel")
    retry_of_cancelled = post(client, f"{path}/retry")

    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert retry_of_cancelled.status_code == 200
    assert post(client, f"{path}/retry").status_code == 409


def test_a_start_without_a_body_is_refused_with_400_after_the_access_check(
    community, moderator, member
):
    client = Client()
    client.force_login(member)
    path = f"/api/communities/{community.slug}/jobs"
    assert client.post(path, data="", content_type="application/json").status_code == 403
    client.force_login(moderator)

    response = client.post(path, data="", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"kind": ["required"]}


@pytest.mark.parametrize("who", ACTORS)
def test_the_kinds_of_job_are_read_like_the_jobs(place, who):
    client, headers = caller(place, who)
    response = client.get(f"/api/communities/{place.slug}/job-kinds", headers=headers)
    assert response.status_code == READ[place.visibility][who], response.content


def test_the_kinds_of_job_come_with_their_stages_and_the_form_of_their_parameters(
    community, member
):
    client = Client()
    client.force_login(member)
    kinds = {
        k["kind"]: k
        for k in client.get(f"/api/communities/{community.slug}/job-kinds").json()["kinds"]
    }

    assert {"generate_proposals", "build_tree", "selftest"} <= set(kinds)
    selftest = kinds["selftest"]
    assert selftest["label"] == "Self-test"
    assert [s["name"] for s in selftest["stages"]] == ["warming", "counting", "summing", "complete"]
    params = {p["name"]: p for p in selftest["params"]}
    # read off the pydantic model that validates a start: bounds, default, title
    assert params["units"] == {
        "name": "units",
        "label": "Units",
        "help": "",
        "type": "int",
        "min": 1,
        "max": 10_000,
        "default": 20,
        "required": False,
    }
    assert params["fail_at"]["default"] is None
    ids = {p["name"]: p for p in kinds["build_tree"]["params"]}["proposal_ids"]
    assert ids["type"] == "ids" and ids["label"] == "Only these cards (ids)"


def test_a_value_past_a_described_bound_is_refused_by_the_start(community, moderator):
    """The form's bounds are the validator's: one past `max` is a 400 naming the field."""
    client = Client()
    client.force_login(moderator)
    kinds = client.get(f"/api/communities/{community.slug}/job-kinds").json()["kinds"]
    units = next(
        p for k in kinds if k["kind"] == "selftest" for p in k["params"] if p["name"] == "units"
    )
    response = client.post(
        f"/api/communities/{community.slug}/jobs",
        data=json.dumps({"kind": "selftest", "params": {"units": units["max"] + 1}}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "params.units" in response.json()["error"]["fields"]
