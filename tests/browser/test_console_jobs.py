"""The console's jobs section in a real browser (issue 11, points 9 and 11): a job started in
one tab shows its live progress in another tab of the same browser and in another moderator's
browser, ending in "succeeded"; a reload shows it at once where it is; cancel, a failure kept
with its stage and progress, retry; parameters refused by field. The job runs on the Celery
worker the browser conftest starts (PostgreSQL + Redis) or in the web process (embedded)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from communities.models import Community, Role
from jobs import services
from jobs.models import Job, Status
from scripts.demo_pages import seed_community
from tests.browser.helpers import sign_in
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

RUN = 60_000  # ms: a job's whole run on a loaded machine, with generous room


@pytest.fixture
def community() -> Iterator[Community]:
    community = seed_community("jobs-room")
    yield community
    # Leave the worker free for the next test: stop whatever this one left running.
    for job in Job.objects.filter(community=community, status__in=[Status.QUEUED, Status.RUNNING]):
        services.request_cancel(job)


def moderator(community: Community) -> Any:
    return MembershipFactory(community=community, role=Role.MODERATOR).user


def open_jobs(page: Page, slug: str) -> Locator:
    """The console's jobs section once its list is read (not waiting for the stream's badge: a
    second tab of one browser follows the first tab's connection)."""
    if not page.url.endswith(f"/c/{slug}/manage/"):
        page.goto(f"/c/{slug}/manage/")
    expect(page.locator("#jobs")).to_have_attribute("aria-busy", "false", timeout=20_000)
    return page.get_by_test_id("jobs")


def signed_in_console(page: Page, username: str, slug: str) -> Locator:
    sign_in(page, username, f"/c/{slug}/manage/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
    return open_jobs(page, slug)


def start(section: Locator, kind: str, **params: int) -> None:
    section.get_by_label("Start a job").select_option(kind)
    for label, value in params.items():
        section.locator(f"#jp-{label}").fill(str(value))
    section.get_by_role("button", name="Start job").click()


def only_job(section: Locator) -> Locator:
    rows = section.get_by_test_id("job")
    expect(rows).to_have_count(1, timeout=20_000)
    return rows.first


def percent(row: Locator) -> float:
    return float(row.get_by_test_id("job-bar").get_attribute("aria-valuenow") or "nan")


def counted(total: int) -> re.Pattern[str]:
    """The stage's count once units are being done."""
    return re.compile(rf"^[1-9]\d* / {total}$")


PARTWAY = re.compile(r"^(?!0$|100$)\d+(\.\d+)?$")  # aria-valuenow between the ends


def test_a_job_started_in_one_tab_shows_its_progress_in_other_tabs_and_after_a_reload(
    new_page: Any, community: Community
) -> None:
    first, second = moderator(community), moderator(community)
    tab_a = new_page()
    jobs_a = signed_in_console(tab_a, first.username, community.slug)
    tab_b = tab_a.context.new_page()  # same browser, same session: follows tab A's stream
    jobs_b = open_jobs(tab_b, community.slug)
    # the second tab follows the first one's stream and says so (never stuck at "connecting")
    expect(tab_b.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
    other = new_page()  # another moderator's browser, its own stream
    jobs_other = signed_in_console(other, second.username, community.slug)
    for section in (jobs_a, jobs_b, jobs_other):
        expect(section.locator("#jobs-empty")).to_be_visible()

    start(jobs_a, "selftest", units=60, delay_ms=200)  # 12 s of counting

    rows = [only_job(s) for s in (jobs_a, jobs_b, jobs_other)]
    for row in rows:
        expect(row).to_contain_text("Self-test")
        expect(row.get_by_test_id("job-count")).to_have_text(counted(60), timeout=RUN)
        expect(row.get_by_test_id("job-stage")).to_have_text("Stage 2 of 3: counting")
        expect(row.get_by_test_id("job-bar")).to_have_attribute("aria-valuenow", PARTWAY)
    expect(rows[2]).to_contain_text(f"started by user {first.pk}")
    expect(rows[0]).to_contain_text("started by you")
    expect(jobs_other.locator("#jobs-count")).to_have_text("1 job")

    # A reload shows the job where it is at once, never behind what the tab showed before.
    before = percent(rows[1])
    tab_b.reload()
    row_b = only_job(open_jobs(tab_b, community.slug))
    assert percent(row_b) >= before
    expect(row_b.get_by_test_id("job-status")).to_have_attribute(
        "data-status", re.compile("running|succeeded")
    )

    for row in (rows[0], row_b, rows[2]):
        expect(row.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=RUN)
        expect(row.get_by_test_id("job-bar")).to_have_attribute("aria-valuenow", "100")
        expect(row.get_by_test_id("job-result")).to_contain_text("rows 60")
    expect(other.locator("#announcer")).to_contain_text("succeeded", timeout=10_000)


def test_a_moderator_cancels_a_running_job_and_every_console_shows_its_partial_result(
    new_page: Any, community: Community
) -> None:
    first, second = moderator(community), moderator(community)
    starter = new_page()
    jobs_starter = signed_in_console(starter, first.username, community.slug)
    canceller = new_page()
    jobs_canceller = signed_in_console(canceller, second.username, community.slug)

    start(jobs_starter, "selftest", units=500, delay_ms=100)  # 50 s of work: stopped long before
    row = only_job(jobs_canceller)
    expect(row.get_by_test_id("job-count")).to_have_text(counted(500), timeout=RUN)

    row.get_by_role("button", name=re.compile("^Cancel Self-test")).click()
    dialog = canceller.locator("#confirm")
    expect(dialog).to_contain_text("next unit of work")
    canceller.locator("#confirm-ok").click()
    expect(dialog).to_be_hidden()

    for section in (jobs_canceller, jobs_starter):
        job = only_job(section)
        expect(job.get_by_test_id("job-status")).to_have_text("Cancelled", timeout=RUN)
        expect(job.get_by_test_id("job-result")).to_contain_text("stopped in counting")
        expect(job.get_by_test_id("job-result")).to_contain_text("finished stages: warming")
        assert 0 < percent(job) < 100  # the progress it reached is kept
        expect(job.get_by_role("button", name=re.compile("^Cancel "))).to_be_hidden()
        expect(job.get_by_role("button", name=re.compile("^Retry "))).to_be_visible()
    assert Job.objects.get(community=community).status == Status.CANCELLED


def test_a_failed_job_names_its_stage_keeps_its_progress_and_retries_as_a_new_attempt(
    new_page: Any, community: Community
) -> None:
    page = new_page()
    section = signed_in_console(page, moderator(community).username, community.slug)

    start(section, "selftest", units=10, fail_at=4)

    row = only_job(section)
    expect(row.get_by_test_id("job-status")).to_have_text("Failed", timeout=RUN)
    expect(row.get_by_test_id("job-error")).to_have_text(
        "Failed in counting: SelftestFailure: failing at unit 4 as asked (fail_at)"
    )
    expect(row.get_by_test_id("job-count")).to_have_text("3 / 10")  # the last progress, kept
    assert percent(row) > 0
    expect(page.locator("#announcer")).to_contain_text("failed in counting", timeout=10_000)

    row.get_by_role("button", name=re.compile("^Retry ")).click()

    expect(row).to_contain_text("Attempt 2 of", timeout=RUN)
    expect(row.get_by_test_id("job-status")).to_have_text("Failed", timeout=RUN)
    assert Job.objects.get(community=community).attempt == 2


def test_bad_parameters_are_refused_by_field_and_nothing_starts(
    new_page: Any, community: Community
) -> None:
    page = new_page()
    section = signed_in_console(page, moderator(community).username, community.slug)

    start(section, "selftest", units=0, delay_ms=99_999)

    units = section.get_by_label("Units")
    expect(units).to_have_attribute("aria-invalid", "true")
    expect(section.locator("[data-field='units']")).to_contain_text("greater than or equal to 1")
    expect(section.locator("[data-field='delay_ms']")).to_contain_text("less than or equal to 5000")
    expect(units).to_be_focused()
    expect(section.get_by_test_id("job")).to_have_count(0)
    assert not Job.objects.filter(community=community).exists()

    section.get_by_label("Start a job").select_option("build_tree")
    section.get_by_label("Only these cards (ids)").fill("12, abc")
    section.get_by_role("button", name="Start job").click()
    expect(section.locator("[data-field='proposal_ids']")).not_to_be_empty()
    assert not Job.objects.filter(community=community).exists()
