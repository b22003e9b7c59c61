"""SSE load generator: N concurrent EventSource-like clients on raw asyncio sockets (uvloop).

Run by scripts/bench/stream.py as its own process, so that the generator and the server each
get a core's worth of scheduling and the generator's cost stays visible (its CPU time is
reported). Kept lean on purpose: one asyncio Protocol per connection, no HTTP library, one
`time.time()` per socket read, and a byte search (not a JSON parse) to pull the publish
timestamp `t` out of each event.

Talks to the orchestrator with one JSON object per line:
  stdout  {"event": "connected", ...}   once every client got the `retry:` preamble (or timeout)
  stdin   {"expected": [ids], "grace": s, "max_wait": s}  after the publisher finished
  stdout  {"event": "result", ...}       once every client got every expected id, or nothing
                                         arrived for `grace` seconds, or `max_wait` passed
A client whose connection fails or drops reconnects after a second, as EventSource does, with
`Last-Event-ID` once it has seen an id; reconnects and late connections are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from array import array
from typing import Any

from scripts.bench.helpers import percentile, raise_nofile, self_cpu_seconds

RECONNECT_DELAY = 1.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.clients: list[Client] = []
        self.connected = 0
        self.all_connected = self.loop.create_future()
        self.t0 = 0.0
        self.latencies = array("d")  # receive time - publish time, seconds, every event
        self.lat_ids = array("l")  # the event id of each latency above
        self.http_errors: dict[str, int] = {}
        self.connect_errors: dict[str, int] = {}
        self.controls: dict[str, int] = {}
        self.expected_count: int | None = None
        self.complete = 0  # clients that have every expected event
        self.all_complete: asyncio.Future[None] | None = None

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class Client:
    __slots__ = (
        "bench",
        "index",
        "ids",
        "last_id",
        "connected_at",
        "first_attempt",
        "attempts",
        "drops",
        "out_of_order",
        "transport",
        "done",
    )

    def __init__(self, bench: Bench, index: int) -> None:
        self.bench = bench
        self.index = index
        self.ids = array("l")
        self.last_id = 0
        self.connected_at: float | None = None
        self.first_attempt = 0.0
        self.attempts = 0
        self.drops = 0
        self.out_of_order = 0
        self.transport: asyncio.Transport | None = None
        self.done = False

    def request(self) -> bytes:
        args = self.bench.args
        lines = [
            f"GET {args.path} HTTP/1.1",
            f"Host: {args.host}:{args.port}",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
        ]
        if self.last_id:
            lines.append(f"Last-Event-ID: {self.last_id}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def connect(self) -> None:
        bench = self.bench
        self.attempts += 1
        if not self.first_attempt:
            self.first_attempt = time.perf_counter()
        try:
            await bench.loop.create_connection(
                lambda: SSEProtocol(self), bench.args.host, bench.args.port
            )
        except OSError as exc:
            bench.count(bench.connect_errors, type(exc).__name__)
            self.retry_later()

    def retry_later(self) -> None:
        self.transport = None
        if self.done:
            return
        self.bench.loop.call_later(
            RECONNECT_DELAY, lambda: self.bench.loop.create_task(self.connect())
        )

    def on_preamble(self) -> None:
        bench = self.bench
        if self.connected_at is None:
            self.connected_at = time.perf_counter()
            bench.connected += 1
            if bench.connected == len(bench.clients) and not bench.all_connected.done():
                bench.all_connected.set_result(None)

    def on_event(self, event_id: int, t: float | None, now: float) -> None:
        if event_id <= self.last_id:
            self.out_of_order += 1
        else:
            self.last_id = event_id
        self.ids.append(event_id)
        if t is not None:
            self.bench.latencies.append(now - t)
            self.bench.lat_ids.append(event_id)
        bench = self.bench
        if (
            bench.expected_count is not None
            and not self.done
            and len(self.ids) >= bench.expected_count
        ):
            self.mark_complete()

    def mark_complete(self) -> None:
        bench = self.bench
        self.done = True
        bench.complete += 1
        if (
            bench.complete >= bench.connected
            and bench.all_complete
            and not bench.all_complete.done()
        ):
            bench.all_complete.set_result(None)


class SSEProtocol(asyncio.Protocol):
    __slots__ = ("client", "raw", "sse", "headers_done", "chunked", "chunk_left", "transport")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.raw = b""
        self.sse = b""
        self.headers_done = False
        self.chunked = False
        self.chunk_left = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.client.transport = transport  # type: ignore[assignment]
        transport.write(self.client.request())  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        bench = client.bench
        if client.done and client.transport is None:
            return  # closed by us at the end
        if client.connected_at is not None:
            client.drops += 1
        bench.count(bench.connect_errors, "closed_" + (type(exc).__name__ if exc else "eof"))
        client.retry_later()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        raw = self.raw + data if self.raw else data
        if not self.headers_done:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self.raw = raw
                return
            head = raw[:end]
            status = head[9:12]
            if status != b"200":
                bench = self.client.bench
                bench.count(bench.http_errors, status.decode("latin-1"))
                self.transport.close()
                return
            self.chunked = b"transfer-encoding: chunked" in head.lower()
            self.headers_done = True
            raw = raw[end + 4 :]
        if self.chunked:
            parts = []
            pos = 0
            size_raw = len(raw)
            while pos < size_raw:
                if self.chunk_left == 0:
                    nl = raw.find(b"\r\n", pos)
                    if nl < 0:
                        break
                    if nl == pos:  # the CRLF that ends a chunk's data
                        pos += 2
                        continue
                    size = int(raw[pos:nl].split(b";", 1)[0], 16)
                    pos = nl + 2
                    if size == 0:
                        self.transport.close()
                        break
                    self.chunk_left = size
                take = min(self.chunk_left, size_raw - pos)
                parts.append(raw[pos : pos + take])
                pos += take
                self.chunk_left -= take
            self.raw = raw[pos:]
            body = b"".join(parts)
        else:
            self.raw = b""
            body = raw
        if not body:
            return
        buffer = self.sse + body if self.sse else body
        frames = buffer.split(b"\n\n")
        self.sse = frames.pop()
        client = self.client
        for frame in frames:
            if frame.startswith(b"id: "):
                nl = frame.find(b"\n", 4)
                event_id = int(frame[4:nl])
                k = frame.find(b'"t":', nl)
                t = None
                if k > 0:
                    k += 4
                    end = frame.find(b",", k)
                    brace = frame.find(b"}", k)
                    if end < 0 or 0 <= brace < end:
                        end = brace
                    t = float(frame[k:end])
                client.on_event(event_id, t, now)
            elif frame.startswith(b"retry:"):
                client.on_preamble()
            elif frame.startswith(b":"):
                continue
            else:  # a control event without id: stream.overflow, stream.shutdown...
                bench = client.bench
                kind = frame.split(b"\n", 1)[0].decode("latin-1", "replace")
                bench.count(bench.controls, kind)


def summarize_connect(bench: Bench, elapsed: float | None) -> dict[str, Any]:
    times = sorted(c.connected_at - c.first_attempt for c in bench.clients if c.connected_at)
    return {
        "event": "connected",
        "clients": len(bench.clients),
        "connected": bench.connected,
        "all_connected_s": round(elapsed, 3) if elapsed is not None else None,
        "last_connected_s": round(
            max(c.connected_at for c in bench.clients if c.connected_at) - bench.t0, 3
        )
        if bench.connected
        else None,
        "connect_p50_ms": round((percentile(times, 50) or 0) * 1000, 1) if times else None,
        "connect_p99_ms": round((percentile(times, 99) or 0) * 1000, 1) if times else None,
        "attempts": sum(c.attempts for c in bench.clients),
        "connect_errors": bench.connect_errors,
        "http_errors": bench.http_errors,
    }


def summarize_run(bench: Bench, expected: list[int], cpu: dict[str, float]) -> dict[str, Any]:
    expected_set = set(expected)
    missing_total = 0
    missing_connected = 0  # among clients that did connect: the delivery guarantee
    clients_missing = 0
    unexpected = 0
    duplicates = 0
    for client in bench.clients:
        got = set(client.ids)
        missing = len(expected_set - got)
        missing_total += missing
        if client.connected_at is not None:
            missing_connected += missing
        clients_missing += 1 if missing else 0
        unexpected += len(got - expected_set)
        duplicates += len(client.ids) - len(got)
    lat = sorted(bench.latencies)
    per_event_max: dict[int, float] = {}
    per_event_min: dict[int, float] = {}
    for eid, value in zip(bench.lat_ids, bench.latencies, strict=True):
        if value > per_event_max.get(eid, -1e9):
            per_event_max[eid] = value
        if value < per_event_min.get(eid, 1e9):
            per_event_min[eid] = value
    spread = sorted(per_event_max[e] - per_event_min[e] for e in per_event_max)
    first = sorted(per_event_min.values())

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "event": "result",
        "clients": len(bench.clients),
        "connected": bench.connected,
        "expected_events": len(expected),
        "deliveries": len(lat),
        "expected_deliveries": len(expected) * len(bench.clients),
        "missing": missing_total,
        "missing_connected": missing_connected,
        "clients_missing": clients_missing,
        "duplicates": duplicates,
        "unexpected": unexpected,
        "out_of_order": sum(c.out_of_order for c in bench.clients),
        "drops": sum(c.drops for c in bench.clients),
        "controls": bench.controls,
        "p50_ms": ms(percentile(lat, 50)),
        "p95_ms": ms(percentile(lat, 95)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(lat[-1] if lat else None),
        "mean_ms": ms(sum(lat) / len(lat) if lat else None),
        "first_receiver_p50_ms": ms(percentile(first, 50)),
        "fanout_spread_p50_ms": ms(percentile(spread, 50)),
        "fanout_spread_p99_ms": ms(percentile(spread, 99)),
        "client_cpu": cpu,
    }


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main_async(args: argparse.Namespace) -> None:
    bench = Bench(args)
    bench.clients = [Client(bench, i) for i in range(args.clients)]
    bench.t0 = time.perf_counter()
    cpu0 = self_cpu_seconds()
    for client in bench.clients:
        bench.loop.create_task(client.connect())
    elapsed: float | None
    try:
        await asyncio.wait_for(asyncio.shield(bench.all_connected), args.connect_timeout)
        elapsed = time.perf_counter() - bench.t0
    except TimeoutError:
        elapsed = None
    summary = summarize_connect(bench, elapsed)
    summary["client_cpu_connect_s"] = round(self_cpu_seconds() - cpu0, 3)
    emit(summary)
    gc.collect()
    gc.freeze()

    line = await bench.loop.run_in_executor(None, sys.stdin.readline)
    if not line:
        return
    command = json.loads(line)
    drain_start = time.perf_counter()
    cpu_publish = self_cpu_seconds() - cpu0 - summary["client_cpu_connect_s"]
    expected: list[int] = command["expected"]
    bench.expected_count = len(expected)
    bench.all_complete = bench.loop.create_future()
    for client in bench.clients:
        if not client.done and len(client.ids) >= len(expected):
            client.mark_complete()
    # Late is not lost: wait while events keep arriving, until `grace` seconds pass without a
    # single delivery (or `max_wait` in all); only then is an undelivered event "missing".
    grace = command.get("grace", 10.0)
    deadline = time.monotonic() + command.get("max_wait", 180.0)
    seen, quiet_since = -1, time.monotonic()
    while bench.complete < bench.connected and time.monotonic() < deadline:
        if len(bench.latencies) != seen:
            seen, quiet_since = len(bench.latencies), time.monotonic()
        elif time.monotonic() - quiet_since >= grace:
            break
        try:
            await asyncio.wait_for(asyncio.shield(bench.all_complete), 0.5)
        except TimeoutError:
            pass
    drained_after = time.perf_counter() - drain_start
    cpu = {
        "connect_s": summary["client_cpu_connect_s"],
        "until_publish_end_s": round(cpu_publish, 3),
        "total_s": round(self_cpu_seconds() - cpu0, 3),
    }
    result = summarize_run(bench, expected, cpu)
    result["drain_s"] = round(drained_after, 2)  # after publishing ended, until all arrived
    result.update({k: v for k, v in summarize_connect(bench, elapsed).items() if k != "event"})
    for client in bench.clients:
        client.done = True
        transport, client.transport = client.transport, None
        if transport is not None:
            transport.close()
    emit(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    raise_nofile()
    gc.disable()  # a load generator's GC pause would show up as server latency
    if args.no_uvloop:
        asyncio.run(main_async(args))
    else:
        import uvloop

        uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
