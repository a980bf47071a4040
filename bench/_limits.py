"""`--limits`: gateways that enforce an API key with rpm/tpm limits, counted in memory or
in a throwaway Redis, and the warm-up check that they really count.

The limits are far above what the bench can send (a 60 s window holds at most a few
hundred thousand requests), so nothing is refused and every request pays the full
admission: key lookup, reservation of prompt + estimated completion tokens, settlement.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis
from _load import CHAT_BODY
from _procs import Child, free_port

API_KEY = "sk-bench-limits"
RPM = 10_000_000
TPM = 10_000_000_000
REDIS_URL_ENV = "BENCH_GATEWAY_REDIS_URL"
KINDS = ("memory", "redis")
# The Redis a developer may run for real: the bench must never write into it.
DEFAULT_REDIS_PORT = 6379

LIMITS_POLICY = """server: {{access_log: false}}
auth: {{required: true}}
keys:
  - id: bench
    sha256: {sha256}
    limits: {{rpm: {rpm}, tpm: {tpm}}}
{state}backends:
  up: {{type: openai, base_url: "http://127.0.0.1:{port}/v1"}}
models:
  - {{id: bench, backend: up}}
"""


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def target_name(kind: str) -> str:
    return f"gateway-limits-{kind}"


def parse_kinds(text: str | None) -> list[str]:
    kinds = [k.strip() for k in (text or "").split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"--limits: unknown {unknown}, choose from {','.join(KINDS)}")
    return list(dict.fromkeys(kinds))


def policy(upstream_port: int, kind: str) -> str:
    state = f"state: {{redis_url_env: {REDIS_URL_ENV}}}\n" if kind == "redis" else ""
    return LIMITS_POLICY.format(
        sha256=hashlib.sha256(API_KEY.encode()).hexdigest(),
        rpm=RPM,
        tpm=TPM,
        state=state,
        port=upstream_port,
    )


def redis_child(tmp: Path) -> tuple[Child, str]:
    """A throwaway redis-server on a free loopback port, nothing persisted."""
    port = free_port()
    if port == DEFAULT_REDIS_PORT:  # an ephemeral port never is, but be sure
        port = free_port()
    argv = [
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no", "--dir", str(tmp)),
    ]
    return Child("redis", argv, tmp / "redis.log"), f"redis://127.0.0.1:{port}/0"


def wait_redis(child: Child, url: str, timeout: float = 10.0) -> None:
    client = redis.Redis.from_url(url, socket_timeout=1.0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"redis exited early:\n{child.log_tail()}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError(f"redis not ready at {url} after {timeout}s")
    finally:
        client.close()


def script_calls(url: str) -> int:
    """EVAL/EVALSHA calls the Redis has served: the gateway admits with one per request."""
    client = redis.Redis.from_url(url, socket_timeout=1.0)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def check_counting(
    session: aiohttp.ClientSession, base: str, redis_url: str | None, probes: int = 5
) -> dict[str, Any]:
    """Fail loudly unless this gateway refuses a wrong key and counts every request of the
    right one (the session sends it): otherwise the figure would be an unlimited gateway's."""
    url = base + "/v1/chat/completions"
    wrong = {"Authorization": "Bearer sk-not-a-key", "content-type": "application/json"}
    async with session.post(url, data=CHAT_BODY, headers=wrong) as resp:
        await resp.read()
        if resp.status != 401:
            raise RuntimeError(f"{base}: a wrong key got HTTP {resp.status}, not 401")
    calls0 = script_calls(redis_url) if redis_url else 0
    remaining: list[int] = []
    tokens: list[str] = []
    for _ in range(probes):
        async with session.post(
            url, data=CHAT_BODY, headers={"content-type": "application/json"}
        ) as resp:
            await resp.read()
            h = resp.headers
            if resp.status != 200 or h.get("x-ratelimit-limit-requests") != str(RPM):
                raise RuntimeError(
                    f"{base}: HTTP {resp.status}, x-ratelimit-limit-requests="
                    f"{h.get('x-ratelimit-limit-requests')!r} (want {RPM}): limits not applied"
                )
            if "x-ratelimit-remaining-tokens" not in h:
                raise RuntimeError(f"{base}: no x-ratelimit-remaining-tokens: tpm not applied")
            remaining.append(int(h["x-ratelimit-remaining-requests"]))
            tokens.append(h["x-ratelimit-remaining-tokens"])
    if any(b >= a for a, b in itertools.pairwise(remaining)):
        raise RuntimeError(f"{base}: x-ratelimit-remaining-requests not counting: {remaining}")
    out: dict[str, Any] = {"remaining_requests": remaining, "remaining_tokens": tokens}
    if redis_url:
        # Fail-open would still send the headers, counted in memory: Redis must see the calls.
        out["redis_script_calls"] = script_calls(redis_url) - calls0
        if out["redis_script_calls"] < probes:
            raise RuntimeError(
                f"{base}: {probes} requests but {out['redis_script_calls']} Redis script "
                "calls: the limits are not counted in Redis"
            )
    return out
