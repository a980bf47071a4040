"""bench/cache.py's processes and requests: the fast upstream (`direct`), the aiohttp floor,
the plain gateway (no cache: the miss-path floor) and two gateways whose route caches exact
answers, in memory or in a throwaway Redis; the request every target gets (temperature 0,
so it is cacheable), the tally of `x-gateway-cache` per phase, and the checks that the
cache targets really hit (and, for Redis, really read Redis)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _load
import aiohttp
import redis
from _limits import REDIS_URL_ENV, redis_child, wait_redis
from _load import HEADERS, OVERHEAD_HEADER, Samples
from _procs import Child, free_port
from _targets import BENCH, POLICY, ROOT, Target

CACHE_TARGETS = ("gateway-cache-memory", "gateway-cache-redis")
TARGETS = ("direct", "floor-aiohttp", "gateway", *CACHE_TARGETS)
CACHE_HEADER = "x-gateway-cache"
# Temperature 0: deterministic, so the cache route may answer it from the cache. Every target
# gets these same bytes (the upstream and the floors ignore the field).
HIT_BODY = b'{"model":"bench","messages":[{"role":"user","content":"hi"}],"temperature":0}'

CACHE_POLICY = """server: {{access_log: false}}
{state}cache: {{backend: {backend}, max_entries: 1000, ttl_seconds: 86400}}
backends:
  up: {{type: openai, base_url: "http://127.0.0.1:{port}/v1"}}
models:
  - {{id: bench, backend: up, cache: {{mode: exact}}}}
"""

# `x-gateway-cache` of every response since the last `tally()` (targets run one at a time).
_STATUS: Counter[str] = Counter()


def tally() -> Counter[str]:
    """The statuses counted since the last call, and a fresh count."""
    got = Counter(_STATUS)
    _STATUS.clear()
    return got


async def _one_hit(session: aiohttp.ClientSession, url: str, out: Samples) -> None:
    """`_load._one` with HIT_BODY, also counting `x-gateway-cache` (absent: `none`)."""
    start = time.perf_counter()
    try:
        async with session.post(url, data=HIT_BODY, headers=HEADERS) as resp:
            await resp.read()
            elapsed = time.perf_counter() - start
            if resp.status != 200:
                out.error(f"HTTP {resp.status}")
                return
            _STATUS[resp.headers.get(CACHE_HEADER, "none")] += 1
            overhead = resp.headers.get(OVERHEAD_HEADER)
            if overhead is not None:
                out.overhead_ms.append(float(overhead))
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.error(type(exc).__name__)
        return
    out.latencies.append(elapsed)
    out.completed += 1


def install() -> None:
    """Make `_load.open_loop` / `closed_loop` / `warm_up` send HIT_BODY and count the cache
    header: the schedule and the workers stay exactly those of bench/overhead.py."""
    _load._one = _one_hit  # type: ignore[assignment]


def start_children(tmp: Path, targets: dict[str, Target], aux: list[Child]) -> None:
    """Fill `targets` (and `aux`: the Redis) as each child starts, so that the caller stops
    whatever did start even if a later one fails."""
    py = sys.executable
    ports = {name: free_port() for name in TARGETS}
    up = ports["direct"]
    gateway_exe = str(Path(py).parent / "gateway")
    server, redis_url = redis_child(tmp)
    aux.append(server)
    server.start(ROOT)
    wait_redis(server, redis_url)
    configs = {
        "gateway": POLICY.format(port=up),
        "gateway-cache-memory": CACHE_POLICY.format(state="", backend="memory", port=up),
        "gateway-cache-redis": CACHE_POLICY.format(
            state=f"state: {{redis_url_env: {REDIS_URL_ENV}}}\n", backend="redis", port=up
        ),
    }
    argvs = {
        "direct": [py, str(BENCH / "fast_upstream.py"), "--port", str(up)],
        "floor-aiohttp": [
            *(py, str(BENCH / "floor_aiohttp.py"), "--port", str(ports["floor-aiohttp"])),
            *("--upstream", f"http://127.0.0.1:{up}"),
        ],
    }
    for name, text in configs.items():
        config = tmp / f"{name}.yaml"
        config.write_text(text)
        argvs[name] = [gateway_exe, "serve", "--config", str(config), "--port", str(ports[name])]
    for name in TARGETS:  # the upstream first: the gateways' readiness may depend on it
        shared = name == "gateway-cache-redis"
        child = Child(
            name,
            argvs[name],
            tmp / f"{name}.log",
            env={REDIS_URL_ENV: redis_url} if shared else None,
        )
        targets[name] = target = Target(
            name,
            f"http://127.0.0.1:{ports[name]}",
            child,
            redis_url if shared else None,
            server if shared else None,
        )
        child.start(ROOT)
        child.wait_ready(target.base + ("/readyz" if name.startswith("gateway") else "/v1/models"))


def redis_gets(url: str) -> int:
    """GET calls the Redis has served (a Redis-backed hit reads its entry with one)."""
    client = redis.Redis.from_url(url, socket_timeout=1.0)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def prime_and_check(
    session: aiohttp.ClientSession, target: Target, probes: int = 5
) -> dict[str, Any]:
    """Store the entry (one miss), then fail loudly unless `probes` requests all hit and,
    for Redis, each hit read Redis (a memory fallback would send the same header)."""
    await _post_status(session, target)  # a miss (or a hit left by an earlier run)
    first: list[str] = []
    for _ in range(50):  # the store runs off the request path: wait until it has landed
        await asyncio.sleep(0.05)
        first.append(await _post_status(session, target))
        if first[-1] == "hit":
            break
    if first[-1] != "hit":
        raise RuntimeError(f"{target.name}: never a cache hit after priming: {Counter(first)}")
    gets0 = redis_gets(target.redis_url) if target.redis_url else 0
    statuses = [await _post_status(session, target) for _ in range(probes)]
    if statuses != ["hit"] * probes:
        raise RuntimeError(f"{target.name}: primed entry but probes got {statuses}")
    out: dict[str, Any] = {"priming_statuses": first, "probe_statuses": statuses}
    if target.redis_url:
        out["redis_gets"] = redis_gets(target.redis_url) - gets0
        if out["redis_gets"] < probes:
            raise RuntimeError(
                f"{target.name}: {probes} hits but {out['redis_gets']} Redis GETs: the hits "
                "do not come from Redis"
            )
    return out


async def _post_status(session: aiohttp.ClientSession, target: Target) -> str:
    async with session.post(target.url, data=HIT_BODY, headers=HEADERS) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(
                f"{target.name}: HTTP {resp.status} (x-gateway-cache: "
                f"{resp.headers.get(CACHE_HEADER)}); its log:\n{target.child.log_tail(3)}"
            )
        return resp.headers.get(CACHE_HEADER, "none")
