"""Load generators for scripts/bench/ingest.py, run as their own process (one core's worth of
Python must not share the server's event loop).

  openloop: a constant offered rate (open loop). Request i is due at t0 + i/rate whatever
            happened to earlier ones; latency is measured from that due time, so a slow server
            shows up as latency instead of silently lowering the rate (no coordinated omission).
            Idle keep-alive connections are reused, new ones opened when all are busy, up to
            --max-connections (like wrk2 -c): past that a request waits in the client for a
            free connection, and that wait counts in its latency.
  burst:    N connections are opened first; when all are up, every one sends its single request
            at the same instant. Reports every status and every connection/read error.

Both print one JSON line prefixed "LOAD_JSON ". A minimal HTTP/1.1 client on asyncio streams
(uvloop when installed) keeps the generator's own cost per request far below httpx's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter

from scripts.bench.helpers import percentile


def summary(values: list[float]) -> dict[str, float | None]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    values = sorted(values)
    return {
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values) if values else None),
        "mean": r(sum(values) / len(values) if values else None),
    }


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, timeout: float) -> Conn:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes, bool]:
        """Returns (status, body, keep_alive)."""
        self.writer.write(raw)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        status = int(status_line.split(b" ", 2)[1])
        length = None
        chunked = False
        keep_alive = True
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.lower() == b"close":
                keep_alive = False
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            return status, bytes(body), keep_alive
        if length is None:
            return status, await self.reader.read(), False
        return status, await self.reader.readexactly(length), keep_alive

    def close(self) -> None:
        self.writer.close()


def build_request(host: str, port: int, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def event_body(prefix: str, i: int, viewer: int) -> bytes:
    return json.dumps(
        {
            "platform_user_id": f"v{viewer}",
            "metric": "message",
            "value": 1,
            "message_id": f"{prefix}-{i}",
        },
        separators=(",", ":"),
    ).encode()


async def openloop(args: argparse.Namespace, token: str) -> dict:
    total = int(args.rate * args.seconds)
    idle: list[Conn] = []
    latencies: list[float] = []
    service: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    opened = 0
    late_starts = 0
    rng = random.Random(args.seed)  # noqa: S311
    tasks: set[asyncio.Task] = set()
    slots = asyncio.Semaphore(args.max_connections)

    async def one(i: int, due: float) -> None:
        async with slots:
            await _one(i, due)

    async def _one(i: int, due: float) -> None:
        nonlocal opened
        raw = build_request(
            args.host,
            args.port,
            args.path,
            token,
            event_body(args.prefix, i, rng.randrange(args.viewers)),
        )
        conn = idle.pop() if idle else None
        try:
            if conn is None:
                conn = await Conn.open(args.host, args.port, args.timeout)
                opened += 1
            started = time.perf_counter()
            status, _body, keep = await asyncio.wait_for(conn.send(raw), args.timeout)
        except Exception as exc:  # noqa: BLE001 - every failure is a counted outcome
            errors[type(exc).__name__] += 1
            if conn is not None:
                conn.close()
            return
        finished = time.perf_counter()
        statuses[str(status)] += 1
        latencies.append((finished - due) * 1000)
        service.append((finished - started) * 1000)
        if keep:
            idle.append(conn)
        else:
            conn.close()

    # Warm a few connections so the first second does not measure TCP setup.
    for _ in range(args.warm_connections):
        try:
            idle.append(await Conn.open(args.host, args.port, args.timeout))
            opened += 1
        except OSError as exc:
            errors[type(exc).__name__] += 1
    t0 = time.perf_counter() + 0.05
    for i in range(total):
        due = t0 + i / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.002:
            late_starts += 1
        task = asyncio.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_for = time.perf_counter() - t0
    if tasks:
        await asyncio.wait(tasks, timeout=args.timeout + 5)
    for conn in idle:
        conn.close()
    return {
        "mode": "openloop",
        "offered_rps": args.rate,
        "requests": total,
        "achieved_send_rps": round(total / sent_for, 1) if sent_for else None,
        "late_starts": late_starts,
        "completed": len(latencies),
        "statuses": dict(statuses),
        "errors": dict(errors),
        "connections_opened": opened,
        "max_connections": args.max_connections,
        "latency_ms": summary(latencies),
        "service_time_ms": summary(service),
    }


async def burst(args: argparse.Namespace, token: str) -> dict:
    n = args.connections
    go = asyncio.Event()
    statuses: Counter = Counter()
    errors: Counter = Counter()
    outcomes: Counter = Counter()
    latencies: list[float] = []
    connected = 0
    all_connected = asyncio.Event()
    start_at = 0.0

    async def client(i: int) -> None:
        nonlocal connected, start_at
        raw = build_request(
            args.host, args.port, args.path, token, event_body(args.prefix, i, i % args.viewers)
        )
        try:
            conn = await Conn.open(args.host, args.port, args.connect_timeout)
        except Exception as exc:  # noqa: BLE001
            errors[f"connect:{type(exc).__name__}"] += 1
            connected += 1  # counted as settled so the burst still starts
            if connected == n:
                all_connected.set()
            return
        connected += 1
        if connected == n:
            all_connected.set()
        await go.wait()
        try:
            status, body, _ = await asyncio.wait_for(conn.send(raw), args.timeout)
        except Exception as exc:  # noqa: BLE001
            errors[f"request:{type(exc).__name__}"] += 1
            conn.close()
            return
        latencies.append((time.perf_counter() - start_at) * 1000)
        statuses[str(status)] += 1
        if status == 200:
            try:
                for result in json.loads(body)["results"]:
                    outcomes[result["status"]] += 1
            except (ValueError, KeyError):
                outcomes["unparsed"] += 1
        conn.close()

    began = time.perf_counter()
    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    await asyncio.wait_for(all_connected.wait(), args.connect_timeout + 5)
    connect_seconds = time.perf_counter() - began
    start_at = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start_at
    return {
        "mode": "burst",
        "connections": n,
        "viewers": args.viewers,
        "connect_seconds": round(connect_seconds, 3),
        "all_answered_seconds": round(elapsed, 3),
        "statuses": dict(statuses),
        "event_outcomes": dict(outcomes),
        "errors": dict(errors),
        "latency_ms": summary(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["openloop", "burst"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token-env", default="BENCH_TOKEN")
    parser.add_argument("--prefix", required=True, help="message id prefix, unique per run")
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warm-connections", type=int, default=8)
    parser.add_argument("--max-connections", type=int, default=64)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import os

    token = os.environ[args.token_env]
    runner = openloop if args.mode == "openloop" else burst
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(runner(args, token))
    else:
        result = uvloop.run(runner(args, token))
    print("LOAD_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
