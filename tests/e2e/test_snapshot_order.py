"""Stale events never arrive last (issue 7, A3), over SSE from real processes: a uvicorn server,
a Celery worker on Redis, PostgreSQL.

Two communities, each streamed from its first event:
- *chain*: a linear tree filled by bursts of engagement; each target is the lone candidate, so
  unlocks, new targets and coalesced `progress.updated` snapshots interleave until the tree is
  complete. No `progress.updated` may name a progress that an earlier event closed or replaced.
- *ballot*: viewers vote without pause while a moderator closes and reopens the vote again and
  again. No `vote.cast` may describe a vote that an earlier event resolved or replaced.

The worker's snapshot tasks pause between reading the state and publishing it
(`worker_helpers slow-snapshots`), which makes the race they must survive happen every few
unlocks instead of once in a while.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from communities.models import Community
from progression import events
from progression.models import Node, Prerequisite, ProgressionSettings, UnlockProgress, VoteSession
from progression.services.state import active_state
from realtime.models import OutboxEvent, Stream
from tests.e2e.clients import SSEStream, open_sse, sse_http_client
from tests.e2e.processes import Launcher, Process
from tests.e2e.worker_helpers import start_slow_snapshot_worker
from tests.factories import CommunityFactory, issue_token

CHAIN_LENGTH = 6
CHAIN_COST = 60
BALLOT_ROUNDS = 8
PATIENCE = 90.0
TASK_LOG = re.compile(r"Task (progression\.tasks\.\w+)\[([0-9a-f-]+)\] (received|succeeded)")


@dataclass
class Seen:
    """Every event of one stream, and the stale ones by the rule the clients apply."""

    envelopes: list[dict[str, Any]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    progress: int = 0
    closed_progress: int = 0
    session: int = 0
    ended_session: int = 0

    def add(self, envelope: dict[str, Any]) -> None:
        self.envelopes.append(envelope)
        kind, data = envelope["type"], envelope["data"]
        pid = data.get("progress_id")
        sid = data.get("session_id") if kind.startswith("progression.vote.") else None
        if kind == events.PROGRESS_UPDATED and (pid < self.progress or pid <= self.closed_progress):
            self.stale.append(f"#{envelope['id']} {kind} progress {pid} {self._context()}")
        if kind == events.VOTE_CAST and (sid < self.session or sid <= self.ended_session):
            self.stale.append(f"#{envelope['id']} {kind} session {sid} {self._context()}")
        if pid is not None:
            self.progress = max(self.progress, pid)
            if kind in (events.NODE_UNLOCKED, events.CYCLE_COMPLETED):
                self.closed_progress = max(self.closed_progress, pid)
        if sid is not None:
            self.session = max(self.session, sid)
            if kind in (events.VOTE_RESOLVED, events.VOTE_CANCELLED):
                self.ended_session = max(self.ended_session, sid)

    def _context(self) -> str:
        return f"after {[(e['id'], e['type']) for e in self.envelopes[-6:-1]]}"

    @property
    def ids(self) -> list[int]:
        return [e["id"] for e in self.envelopes]

    def types(self) -> list[str]:
        return [e["type"] for e in self.envelopes]


async def follow(stream: SSEStream, seen: Seen, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            event = await stream.next(0.2)
        except TimeoutError:
            continue
        if event is None:
            return
        if not event.is_control:
            seen.add(event.json())


def tasks_settled(worker: Process) -> bool:
    received, succeeded = set(), set()
    for _name, task_id, what in TASK_LOG.findall(worker.log()):
        (received if what == "received" else succeeded).add(task_id)
    return received == succeeded


async def until_settled(worker: Process, streams: dict[int, Seen]) -> None:
    """Every task the worker took has finished, every committed event has been streamed, and it
    stays so for three polls in a row (longer than a snapshot's 0.25 s slot)."""
    deadline, calm = time.monotonic() + PATIENCE, 0
    while calm < 3:
        assert time.monotonic() < deadline, "the worker and the streams never settled"
        heads = await asyncio.to_thread(
            lambda: dict(Stream.objects.filter(pk__in=list(streams)).values_list("pk", "last_id"))
        )
        done = tasks_settled(worker) and all(
            (streams[pk].ids[-1:] or [0])[0] == head for pk, head in heads.items()
        )
        calm = calm + 1 if done else 0
        await asyncio.sleep(0.3)


def chain_community() -> Community:
    community = CommunityFactory()
    ProgressionSettings.objects.create(community=community, viewer_rate=1000, viewer_burst=1000)
    previous = None
    for i in range(CHAIN_LENGTH):
        node = Node.objects.create(
            community=community, key=f"step_{i}", name=f"Step {i}", tier=i, cost_override=CHAIN_COST
        )
        if previous is not None:
            Prerequisite.objects.create(node=node, required=previous, min_level=1)
        previous = node
    return community


def ballot_community() -> Community:
    community = CommunityFactory()
    ProgressionSettings.objects.create(community=community, vote_options=3)
    for i in range(8):  # never reached: the votes only ever choose, nothing unlocks
        Node.objects.create(
            community=community, key=f"pick_{i}", name=f"Pick {i}", cost_override=10**9
        )
    active_state(community)  # opens the season: a vote on the first target
    return community


async def fill_the_chain(http: httpx.AsyncClient, web: Process, community: Community) -> None:
    ingest = await asyncio.to_thread(lambda: issue_token(community, "ingest").secret)
    url = f"{web.base_url}/api/communities/{community.slug}/engagement"
    headers = {"Authorization": f"Bearer {ingest}"}
    viewers = itertools.count()
    deadline = time.monotonic() + PATIENCE

    def complete() -> bool:
        progress = UnlockProgress.objects.filter(community=community, status="active").first()
        return (
            progress is not None
            and progress.node_id is None
            and progress.offset >= CHAIN_LENGTH * CHAIN_COST
        )

    while not await asyncio.to_thread(complete):
        assert time.monotonic() < deadline, "the chain never completed"
        body = {"platform_user_id": f"viewer-{next(viewers)}", "metric": "message", "value": 3}
        answer = await http.post(url, json=body, headers=headers)
        assert answer.status_code in (200, 202), answer.text
        await asyncio.sleep(0.02)


async def vote_and_replace(http: httpx.AsyncClient, web: Process, community: Community) -> int:
    tokens = await asyncio.to_thread(
        lambda: (issue_token(community, "vote").secret, issue_token(community, "admin").secret)
    )
    base = f"{web.base_url}/api/communities/{community.slug}"
    voter, admin = ({"Authorization": f"Bearer {token}"} for token in tokens)
    viewers = itertools.count()
    stop = asyncio.Event()

    async def cast_votes() -> int:
        counted = 0
        while not stop.is_set():
            body = {"platform_user_id": f"voter-{next(viewers)}", "option": 1 + counted % 3}
            answer = await http.post(f"{base}/votes", json=body, headers=voter)
            assert answer.status_code in (200, 400, 409), answer.text  # 409: between votes
            counted += answer.status_code == 200
            await asyncio.sleep(0.01)
        return counted

    casting = asyncio.ensure_future(cast_votes())
    for _ in range(BALLOT_ROUNDS):
        await asyncio.sleep(0.4)  # votes come in, snapshots are due
        closed = await http.post(f"{base}/votes/close", json={}, headers=admin)
        assert closed.status_code in (200, 409), closed.text
        opened = await http.post(f"{base}/votes/start", json={}, headers=admin)
        assert opened.status_code in (200, 409), opened.text
    await asyncio.sleep(0.4)
    stop.set()
    return await casting


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_no_stale_snapshot_arrives_after_the_events_that_closed_what_it_describes(
    web: Process, processes: Launcher
) -> None:
    chain, ballot = chain_community(), ballot_community()
    worker = start_slow_snapshot_worker(processes)

    async def scenario() -> tuple[Seen, Seen, int]:
        seen = {chain.pk: Seen(), ballot.pk: Seen()}
        stop = asyncio.Event()
        async with sse_http_client() as sse, httpx.AsyncClient(trust_env=False, timeout=10) as http:
            streams = []
            for community in (chain, ballot):
                url = f"{web.base_url}/api/communities/{community.slug}/stream?topics=progression"
                stream = await open_sse(sse, url, last_event_id=0)
                assert stream.status == 200
                streams.append(stream)
            readers = [
                asyncio.ensure_future(follow(stream, seen[community.pk], stop))
                for stream, community in zip(streams, (chain, ballot), strict=True)
            ]
            started = time.monotonic()
            _, votes = await asyncio.gather(
                fill_the_chain(http, web, chain), vote_and_replace(http, web, ballot)
            )
            driven = time.monotonic()
            await until_settled(worker, seen)
            print(
                f"\ndriven in {driven - started:.1f}s, settled {time.monotonic() - driven:.1f}s "
                f"later; events: chain {len(seen[chain.pk].ids)}, ballot {len(seen[ballot.pk].ids)}"
            )
            stop.set()
            await asyncio.gather(*readers)
            for stream in streams:
                await stream.close()
        return seen[chain.pk], seen[ballot.pk], votes

    chained, balloted, votes = asyncio.run(scenario())

    for community, seen in ((chain, chained), (ballot, balloted)):
        assert seen.ids == sorted(set(seen.ids)), "in id order, none twice"
        missing = set(range(1, seen.ids[-1] + 1)) - set(seen.ids)
        skipped = OutboxEvent.objects.filter(community=community, event_id__in=missing)
        assert all(row.coalesce_key for row in skipped), "only coalesced events may be skipped"
    assert chained.types().count(events.NODE_UNLOCKED) == CHAIN_LENGTH
    assert events.TREE_COMPLETED in chained.types()
    assert chained.types().count(events.PROGRESS_UPDATED) >= CHAIN_LENGTH
    assert balloted.types().count(events.VOTE_RESOLVED) >= BALLOT_ROUNDS
    assert votes > 0 and events.VOTE_CAST in balloted.types()
    assert chained.stale == []
    assert balloted.stale == []
    active = UnlockProgress.objects.get(community=chain, status="active")
    last = [e for e in chained.envelopes if "progress_id" in e["data"]][-1]
    assert last["data"]["progress_id"] == active.pk
    open_vote = VoteSession.objects.filter(community=ballot, status__in=["open", "frozen"]).first()
    last_vote = [e for e in balloted.envelopes if e["type"].startswith("progression.vote.")][-1]
    assert open_vote is not None and last_vote["data"]["session_id"] == open_vote.pk
    assert "Traceback" not in worker.log(), worker.log()[-5000:]
