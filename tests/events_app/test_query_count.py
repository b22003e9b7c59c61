"""A list or a detail costs the same few queries at 10, 100 or 1,000 events, with 3 or 30
targets each: the seed asked once per target per event (12,015 queries for 500 events).

Counted with CaptureQueriesContext on whichever database the run has (SQLite embedded,
PostgreSQL in the real-services run), everything counted, the transaction's BEGIN and COMMIT
included: 5 on PostgreSQL (BEGIN, the isolation statement, two reads, COMMIT), 4 on SQLite.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from events_app.selectors import event_detail, figures_for_events, list_events
from tests.events_app import builders as b
from tests.factories import CommunityFactory, issue_token

pytestmark = pytest.mark.django_db(transaction=True)

SELECTOR_BUDGET = 6
DATA_QUERIES = 2  # the page with its delivery counts; the targets with their sums and the stock


def snapshot_statements() -> int:
    """The transaction's own statements, which Django logs as queries: BEGIN, the isolation
    statement and COMMIT on PostgreSQL; BEGIN IMMEDIATE and COMMIT on SQLite."""
    return 3 if connection.vendor == "postgresql" else 2


def _count(call) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured), [q["sql"] for q in captured.captured_queries]


def test_the_list_costs_the_same_queries_at_10_100_and_1000_events():
    community = CommunityFactory()
    counts, shown = {}, {}
    for total, more in ((10, 10), (100, 90), (1000, 900)):
        b.seed_events(community, more, start=b.today())
        page = list_events(community, when="all", limit=total)
        shown[total] = len(page.events)
        counts[total], sql = _count(lambda t=total: list_events(community, when="all", limit=t))
    assert shown == {10: 10, 100: 100, 1000: 1000}
    assert set(counts.values()) == {DATA_QUERIES + snapshot_statements()}, counts
    assert max(counts.values()) <= SELECTOR_BUDGET
    if connection.vendor == "postgresql":
        assert sql[:2] == ["BEGIN", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"]


def test_thirty_targets_per_event_cost_no_more_queries_than_three():
    community = CommunityFactory()
    few = b.seed_events(community, 20, production_targets=2, assembly_targets=1)
    crowded_community = CommunityFactory()
    many = b.seed_events(crowded_community, 20, production_targets=20, assembly_targets=10)
    assert len(figures_for_events([many[0].pk])[many[0].pk].production) == 20
    few_count, _ = _count(lambda: list_events(community, when="all"))
    many_count, _ = _count(lambda: list_events(crowded_community, when="all"))
    assert few_count == many_count <= SELECTOR_BUDGET
    detail_count, _ = _count(lambda: event_detail(crowded_community, many[3].pk))
    assert detail_count == many_count
    assert _count(lambda: figures_for_events([e.pk for e in few + many]))[0] == 2


def test_a_page_of_an_empty_list_costs_no_figures_queries():
    community = CommunityFactory()
    count, _ = _count(lambda: list_events(community))
    assert count == 1 + snapshot_statements()  # the page, found empty


def test_inside_the_callers_transaction_there_is_no_isolation_statement():
    community = CommunityFactory()
    b.seed_events(community, 5)
    with transaction.atomic():
        count, sql = _count(lambda: list_events(community, when="all"))
    assert count == DATA_QUERIES
    assert not any(s.startswith(("SET TRANSACTION", "BEGIN", "COMMIT")) for s in sql)


@pytest.mark.parametrize("who", ["anonymous", "token"])
def test_the_whole_http_request_costs_the_same_small_number_at_any_size(client, who):
    """Auth, community lookup and the selector together."""
    community = CommunityFactory()
    headers = {}
    if who == "token":
        headers = {"Authorization": f"Bearer {issue_token(community, 'read').secret}"}
    url = f"/api/communities/{community.slug}/events?when=all&limit=200"
    client.get(url, headers=headers)  # a token's first use stamps its last_used_at (a write)
    counts = {}
    for total, more in ((10, 10), (300, 290)):
        b.seed_events(community, more)
        with CaptureQueriesContext(connection) as captured:
            answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.content
        assert len(answer.json()["events"]) == min(total, 200)
        counts[total] = len(captured)
    assert counts[10] == counts[300], counts
    print(f"HTTP request total ({who}, {connection.vendor}): {counts[10]} queries")
    # the community, the token (when one is sent), then the selector
    assert counts[10] == 1 + (who == "token") + DATA_QUERIES + snapshot_statements()
