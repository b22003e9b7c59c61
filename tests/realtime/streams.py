"""Opening a StreamConnection against the test's hub with a recording transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from communities.models import Community
from realtime.access import snapshot_urls
from realtime.connection import StreamConnection
from realtime.hub import StreamHub
from tests.realtime.helpers import RecordingTransport, limits, until


async def allow_everything(topics: set[str]) -> set[str]:
    return set(topics)


@dataclass
class OpenStream:
    connection: StreamConnection
    transport: RecordingTransport
    task: asyncio.Task

    @property
    def event_ids(self) -> list[int]:
        return self.transport.event_ids

    async def wait_for_events(self, *ids: int, timeout: float = 5.0) -> None:
        await until(
            lambda: set(ids) <= set(self.event_ids) or self.task.done(),
            timeout,
            f"events {ids}; got {self.event_ids}",
        )

    async def result(self, timeout: float = 5.0) -> str:
        return await asyncio.wait_for(self.task, timeout)


Opener = Callable[..., Awaitable[OpenStream]]


def make_opener(hub: StreamHub, tasks: list[asyncio.Task]) -> Opener:
    async def open_stream(
        community: Community,
        topics: set[str],
        *,
        resume_from: int | None = None,
        transport: RecordingTransport | None = None,
        authorize: Callable[[set[str]], Awaitable[set[str]]] = allow_everything,
        access_group: str | None = None,
        wait_live: bool = True,
        **limit_overrides: float,
    ) -> OpenStream:
        connection = StreamConnection(
            hub=hub,
            transport=transport or RecordingTransport(),
            community_id=community.pk,
            topics=set(topics),
            access_group=access_group,
            authorize=authorize,
            snapshot_urls=snapshot_urls(community.slug),
            limits=limits(**limit_overrides),
        )
        task = asyncio.ensure_future(connection.run(resume_from))
        tasks.append(task)
        stream = OpenStream(connection, connection.transport, task)  # type: ignore[arg-type]
        if wait_live:
            await until(lambda: not connection.syncing or task.done(), what="the stream to go live")
        return stream

    return open_stream
