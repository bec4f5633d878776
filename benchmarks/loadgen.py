"""A lean HTTP/1.1 load generator for loopback benchmarks.

Keep-alive connections driven by asyncio (uvloop when installed), requests
pre-encoded as bytes and responses parsed only as far as the status and
Content-Length. A generator this cheap leaves the CPU to the server under test,
so what a benchmark measures is the server, not its client.

Two shapes of load:

- closed loop: `connections` clients, each sends its next request as soon as
  the previous answer arrives (the server's capacity);
- open loop: requests scheduled at a fixed rate whatever the answers do, each
  on an idle connection or a new one; latency counts from the scheduled time, so
  queueing in the server shows (no coordinated omission).

Several generator processes split the load when one core is not enough.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: the request target for the i-th request of a generator process
PathMaker = Callable[[int, int], str]


@dataclass
class Sample:
    """What one generator process saw."""

    latencies_ms: list[float] = field(default_factory=list)
    send_lags_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    #: from the first send to the last answer
    elapsed_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    def merge(self, other: Sample) -> None:
        self.elapsed_s = max(self.elapsed_s, other.elapsed_s)
        self.latencies_ms += other.latencies_ms
        self.send_lags_ms += other.send_lags_ms
        self.errors += other.errors
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
                break
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def _request(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def _record(sample: Sample, status: int) -> None:
    sample.statuses[status] = sample.statuses.get(status, 0) + 1
    if status != 200:
        sample.errors += 1


async def _closed(
    host: str, port: int, path: PathMaker, worker: int, connections: int, seconds: float
) -> Sample:
    sample = Sample()
    counter = iter(range(10**12))
    began = time.perf_counter()
    stop_at = began + seconds

    async def client() -> None:
        conn = await _Connection.open(host, port)
        try:
            while time.perf_counter() < stop_at:
                request = _request(host, port, path(worker, next(counter)))
                sent = time.perf_counter()
                status = await conn.exchange(request)
                sample.latencies_ms.append((time.perf_counter() - sent) * 1000)
                _record(sample, status)
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(int(connections))))
    sample.elapsed_s = time.perf_counter() - began
    return sample


async def _open(
    host: str, port: int, path: PathMaker, worker: int, rate: float, seconds: float
) -> Sample:
    sample = Sample()
    idle: list[_Connection] = [await _Connection.open(host, port) for _ in range(8)]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    total = int(rate * seconds)
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int, due: float) -> None:
        conn = idle.pop() if idle else await _Connection.open(host, port)
        request = _request(host, port, path(worker, index))
        sample.send_lags_ms.append((loop.time() - due) * 1000)
        status = await conn.exchange(request)
        sample.latencies_ms.append((loop.time() - due) * 1000)
        _record(sample, status)
        idle.append(conn)

    for index in range(total):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(index, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    sample.elapsed_s = loop.time() - start
    for conn in idle:
        conn.close()
    return sample


def _run(coro: Any) -> Sample:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.run(coro)


def _worker(kind: str, args: tuple[Any, ...], out: Any, go: Any) -> None:
    go.wait()
    host, port, path, worker, amount, seconds = args
    runner = _closed if kind == "closed" else _open
    out.put(_run(runner(host, port, path, worker, amount, seconds)))


def _spread(
    kind: str, host: str, port: int, path: PathMaker, per: list[float], seconds: float
) -> Sample:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(target=_worker, args=(kind, (host, port, path, w, amount, seconds), out, go))
        for w, amount in enumerate(per)
    ]
    for proc in procs:
        proc.start()
    time.sleep(0.2)  # every process is up before the load starts
    go.set()
    total = Sample()
    for _ in procs:
        total.merge(out.get(timeout=seconds * 4 + 60))
    for proc in procs:
        proc.join(timeout=10)
    return total


def closed_loop(
    host: str, port: int, path: PathMaker, *, connections: int, seconds: float, processes: int = 1
) -> Sample:
    """`connections` clients in all, each sending as soon as its last answer came."""
    per = [connections // processes + (w < connections % processes) for w in range(processes)]
    return _spread("closed", host, port, path, [float(n) for n in per], seconds)


def open_loop(
    host: str, port: int, path: PathMaker, *, rate: float, seconds: float, processes: int = 1
) -> Sample:
    """`rate` requests per second in all, for `seconds`."""
    return _spread("open", host, port, path, [rate / processes] * processes, seconds)
