"""Stream clients for end-to-end tests: an SSE client over httpx, and a raw socket one.

The SSE client parses `id:`, `event:`, `data:` and `retry:` fields as a browser's EventSource
does, and reconnects the way one does: with the last id it saw in `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx

CONTROL_PREFIX = "stream."


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str
    id: int | None

    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def is_control(self) -> bool:
        return self.event.startswith(CONTROL_PREFIX)


class SSEParser:
    """Turns lines of a text/event-stream into events (the WHATWG parsing rules, minus BOM)."""

    def __init__(self) -> None:
        self.retry: int | None = None
        self.comments = 0
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._reset()
            return None
        event = SSEEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=int(self._id) if self._id else None,
        )
        self._reset()
        return event


def parse_sse(text: str) -> tuple[list[SSEEvent], SSEParser]:
    parser = SSEParser()
    events = [e for line in text.split("\n") if (e := parser.feed(line.rstrip("\r")))]
    return events, parser


_EOF = object()


class StreamStillOpen(AssertionError):
    def __init__(self, timeout: float, events: list[SSEEvent]) -> None:
        super().__init__(f"stream still open after {timeout:.1f}s; received {events}")
        self.events = events


class SSEStream:
    """One open SSE response. `next()` returns the next event, None at the end of the stream."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.parser = SSEParser()
        self.clean_end: bool | None = None  # True: the server ended the body properly
        self.error: Exception | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    @property
    def status(self) -> int:
        return self.response.status_code

    async def _read(self) -> None:
        try:
            async for line in self.response.aiter_lines():
                event = self.parser.feed(line)
                if event is not None:
                    self._queue.put_nowait(event)
            self.clean_end = True
        except httpx.HTTPError as exc:
            self.clean_end, self.error = False, exc
        finally:
            self._queue.put_nowait(_EOF)

    async def next(self, timeout: float) -> SSEEvent | None:
        """The next event within `timeout` seconds (TimeoutError otherwise); None at the end."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no SSE event within {timeout:.1f}s") from None
        if item is _EOF:
            self._queue.put_nowait(_EOF)
            return None
        return item

    async def next_data_event(self, timeout: float) -> SSEEvent | None:
        """The next event that is not a control event (stream.*)."""
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next(max(0.0, deadline - time.monotonic()))
            if event is None or not event.is_control:
                return event

    async def collect(self, count: int, timeout: float) -> list[SSEEvent]:
        """The next `count` events (controls included), failing if they do not come in time."""
        deadline = time.monotonic() + timeout
        events: list[SSEEvent] = []
        while len(events) < count:
            event = await self.next(max(0.0, deadline - time.monotonic()))
            if event is None:
                raise AssertionError(f"stream ended after {len(events)} of {count} events")
            events.append(event)
        return events

    async def drain_until_end(self, timeout: float) -> list[SSEEvent]:
        """Every event until the server ends the stream; StreamStillOpen after `timeout`."""
        deadline = time.monotonic() + timeout
        events: list[SSEEvent] = []
        try:
            while (event := await self.next(max(0.0, deadline - time.monotonic()))) is not None:
                events.append(event)
        except TimeoutError:
            raise StreamStillOpen(timeout, events) from None
        return events

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.response.aclose()


async def open_sse(
    http: httpx.AsyncClient,
    url: str,
    *,
    last_event_id: int | None = None,
    headers: dict[str, str] | None = None,
) -> SSEStream:
    """Opens a stream; check `.status` (a refusal's JSON body is in `.response`)."""
    request_headers = {"Accept": "text/event-stream", **(headers or {})}
    if last_event_id is not None:
        request_headers["Last-Event-ID"] = str(last_event_id)
    request = http.build_request("GET", url, headers=request_headers)
    response = await http.send(request, stream=True)
    if response.status_code != 200:
        await response.aread()
        await response.aclose()
    return SSEStream(response)


def sse_http_client() -> httpx.AsyncClient:
    # No read timeout: a quiet stream is legitimate; tests bound their waits themselves.
    # Local servers only: never through a proxy from the environment.
    return httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), trust_env=False)


# --- raw socket: a client that stops reading ------------------------------------------------


class StalledSSE:
    """An SSE request over a socket with a tiny receive buffer that the test stops reading."""

    def __init__(self, port: int, path: str, *, last_event_id: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.connect(("127.0.0.1", port))
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
            f"{resume}Connection: close\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.received = bytearray()

    def read_until(self, marker: bytes, timeout: float) -> None:
        self.sock.settimeout(timeout)
        while marker not in self.received:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before {marker!r}: {self.received!r}")
            self.received += chunk

    def read_to_end(self, timeout: float) -> bool:
        """Reads until the server closes the connection; False if it is still open at `timeout`."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(1.0)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                return True
            self.received += chunk
        return False

    def body_text(self) -> str:
        head, _, body = bytes(self.received).partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            body = dechunk(body)
        return body.decode()

    def close(self) -> None:
        self.sock.close()


def dechunk(body: bytes) -> bytes:
    """Decodes an HTTP/1.1 chunked body; raises if the terminating chunk is missing."""
    out, pos = bytearray(), 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
