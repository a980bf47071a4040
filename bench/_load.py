"""The load generator: open loop at a fixed rate, closed loop at a fixed concurrency, and
sequential streaming time-to-first-byte. One aiohttp session per target, connections reused."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

import aiohttp

CHAT_BODY = b'{"model":"bench","messages":[{"role":"user","content":"hi"}]}'
STREAM_BODY = b'{"model":"bench","messages":[{"role":"user","content":"hi"}],"stream":true}'
HEADERS = {"content-type": "application/json"}
OVERHEAD_HEADER = "x-gateway-overhead-ms"
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10.0)


def make_session(limit: int, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """`headers` go with every request (`--limits`: the API key, to every target alike, so
    that parsing it costs the same everywhere; the upstream and the floors ignore it)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, keepalive_timeout=60),
        headers=headers,
        timeout=REQUEST_TIMEOUT,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent",),
    )


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Samples:
    """What one phase against one target produced (times in seconds)."""

    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    completed: int = 0
    wall: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_examples) < 3:
            self.error_examples.append(what)

    def extend(self, other: Samples) -> None:
        self.latencies += other.latencies
        self.lags += other.lags
        self.overhead_ms += other.overhead_ms
        self.errors += other.errors
        self.error_examples = (self.error_examples + other.error_examples)[:3]
        self.completed += other.completed
        self.wall += other.wall


async def _one(session: aiohttp.ClientSession, url: str, out: Samples) -> None:
    start = time.perf_counter()
    try:
        async with session.post(url, data=CHAT_BODY, headers=HEADERS) as resp:
            await resp.read()
            elapsed = time.perf_counter() - start
            if resp.status != 200:
                out.error(f"HTTP {resp.status}")
                return
            overhead = resp.headers.get(OVERHEAD_HEADER)
            if overhead is not None:
                out.overhead_ms.append(float(overhead))
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.error(type(exc).__name__)
        return
    out.latencies.append(elapsed)
    out.completed += 1


async def open_loop(
    session: aiohttp.ClientSession, url: str, rate: float, seconds: float
) -> Samples:
    """Launch requests on the schedule t0 + i/rate whatever the completions; latency is
    measured from the actual send, and the lag behind the schedule is recorded too."""
    out = Samples()
    total = max(1, int(rate * seconds))
    tasks: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter() + 0.005
    i = 0
    while i < total:
        now = time.perf_counter()
        due = t0 + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        # Everything due by now goes out at once (catches up after a late wake-up).
        while i < total and t0 + i / rate <= now:
            out.lags.append(now - (t0 + i / rate))
            task = asyncio.create_task(_one(session, url, out))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=15.0)
        for task in pending:
            task.cancel()
            out.error("timeout at end of phase")
    out.wall = time.perf_counter() - t0
    return out


async def closed_loop(
    session: aiohttp.ClientSession, url: str, concurrency: int, seconds: float
) -> Samples:
    """`concurrency` workers, each sending back-to-back until the deadline."""
    out = Samples()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await _one(session, url, out)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    _done, pending = await asyncio.wait(workers, timeout=seconds + 15.0)
    for task in pending:
        task.cancel()
    out.wall = time.perf_counter() - start
    return out


async def stream_ttfb(session: aiohttp.ClientSession, url: str, seconds: float) -> Samples:
    """Sequential streaming requests; `latencies` holds the time from send to the first SSE
    `data:` line. A stream that does not end with `data: [DONE]` counts as an error."""
    out = Samples()
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        sent = time.perf_counter()
        ttfb = None
        try:
            async with session.post(url, data=STREAM_BODY, headers=HEADERS) as resp:
                if resp.status != 200:
                    await resp.read()
                    out.error(f"HTTP {resp.status}")
                    continue
                while True:
                    line = await resp.content.readline()
                    if not line:
                        break
                    if line.startswith(b"data:"):
                        ttfb = time.perf_counter() - sent
                        break
                rest = await resp.read() if ttfb is not None else b""
        except (aiohttp.ClientError, TimeoutError) as exc:
            out.error(type(exc).__name__)
            continue
        if ttfb is None or b"data: [DONE]" not in rest:
            out.error("stream without data or [DONE]")
            continue
        out.latencies.append(ttfb)
        out.completed += 1
    out.wall = time.perf_counter() - start
    return out


async def warm_up(session: aiohttp.ClientSession, base: str) -> Samples:
    """A few hundred requests so that pools, caches and lazy imports are warm."""
    out = await closed_loop(session, base + "/v1/chat/completions", 8, 1.0)
    with contextlib.suppress(Exception):
        out.extend(await stream_ttfb(session, base + "/v1/chat/completions", 0.3))
    return out
