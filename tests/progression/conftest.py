"""Fixtures shared by the progression suites (one home instead of a copy per file).

`_eager_tasks` is not autouse: the suites that want tasks run at once opt in with
`pytest.mark.usefixtures("_eager_tasks")`; others (test_concurrency's real worker) must not
have it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from communities.models import Community
from config.celery import app as celery_app
from progression import cache as progression_cache
from progression import ratelimit
from progression.models import Node
from progression.services.engagement import EngagementEvent, EngagementResult, record_engagement
from tests.factories import NodeFactory, PrerequisiteFactory, issue_token


@pytest.fixture
def _eager_tasks() -> Iterator[None]:
    """Tasks enqueued after commit run synchronously; nothing cached leaks between tests."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    progression_cache.clear_local()
    ratelimit.reset_local()
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
    progression_cache.clear_local()
    ratelimit.reset_local()


@pytest.fixture
def earn() -> Callable[..., EngagementResult]:
    """earn(community, points, viewer="ann", name=""): one viewer's message worth `points`
    (weight 1), each with a message id of its own so none is taken for a repeat."""
    counter = iter(range(1_000_000))

    def send(
        community: Community, points: int, viewer: str = "ann", name: str = ""
    ) -> EngagementResult:
        event = EngagementEvent(
            index=0,
            platform_user_id=viewer,
            display_name=name,
            metric="message",
            value=points,
            message_id=f"m-{next(counter)}",
        )
        return record_engagement(community, [event])

    return send


@pytest.fixture
def ingest(community: Community) -> str:
    """The secret of an ingest-scoped token of `community`."""
    return issue_token(community, "ingest").secret


@pytest.fixture
def chain(community: Community) -> tuple[Node, Node]:
    """first (cost 100) -> second (1000): first is the lone candidate."""
    first = NodeFactory(community=community, key="first", cost_override=100)
    second = NodeFactory(community=community, key="second", tier=1, cost_override=1000)
    PrerequisiteFactory(node=second, required=first)
    return first, second
