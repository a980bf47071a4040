"""Two gateway processes on one real Redis (started here on a free port): limits, parallel
slots and budgets hold exactly across both; the keys never reach a log line."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from gateway.keys.records import sha256_hex as sha
from tests.e2e.conftest import UPSTREAM_KEY
from tests.support import RedisServer, Served, start_gateway

pytestmark = pytest.mark.e2e
RPM_KEY = "sk-shared-rpm-0123456789"
PAR_KEY = "sk-shared-par-0123456789"
BUDGET_KEY = "sk-shared-budget-0123456789"
SPENT_KEY = "sk-shared-spent-0123456789"
KEYS = (RPM_KEY, PAR_KEY, BUDGET_KEY, SPENT_KEY)


CONFIG = f"""
server: {{access_log: true}}
defaults:
  timeouts: {{connect: 2, first_byte: 20, idle: 20}}
  retries: {{attempts: 1}}
state: {{redis_url_env: TEST_REDIS_URL}}
auth: {{required: true}}
keys:
  - {{id: rpm, sha256: {sha(RPM_KEY)}, limits: {{rpm: 50}}}}
  - {{id: par, sha256: {sha(PAR_KEY)}, limits: {{max_parallel: 5}}}}
  - {{id: budget, sha256: {sha(BUDGET_KEY)}, budget: {{usd_per_day: 0.25}}}}
  - {{id: spent, sha256: {sha(SPENT_KEY)}, budget: {{usd_per_day: 0.0001}}}}
prices:
  echo: {{input: 1000, output: 1000}}
  slow-1500: {{input: 0, output: 1000}}    # $0.001 per completion token
backends:
  up: {{type: openai, base_url: "LOOPBACK_URL", api_key_env: LOOP_KEY}}
models:
  - {{id: script/*, backend: up, upstream_model: "*"}}
"""


@dataclass
class Cluster:
    replicas: list[Served]
    start: Callable[[], Served]
    started: list[Served]  # every process, stopped ones included


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, loopback: str) -> Iterator[Cluster]:
    redis = RedisServer()
    redis.start()
    tmp = tmp_path_factory.mktemp("shared-limits")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG.replace("LOOPBACK_URL", loopback))
    env = {"LOOP_KEY": UPSTREAM_KEY, "TEST_REDIS_URL": redis.url}
    started: list[Served] = []

    def start() -> Served:
        started.append(Served(*start_gateway(tmp, ["--config", str(config)], env=env)))
        return started[-1]

    try:
        yield Cluster([start(), start()], start, started)
    finally:
        for served in started:
            served.proc.stop()
        redis.stop()


@pytest.fixture()
def replicas(cluster: Cluster) -> list[Served]:
    return cluster.replicas


async def burst(bases: list[str], key: str, model: str, n: int, **extra: object) -> Counter[int]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(i: int) -> int:
            reply = await client.post(
                f"{bases[i % len(bases)]}/v1/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {key}"},
            )
            return reply.status_code

        return Counter(await asyncio.gather(*(one(i) for i in range(n))))


def bases_of(replicas: list[Served]) -> list[str]:
    return [r.base for r in replicas]


def test_rpm_admits_exactly_the_limit_across_two_replicas(replicas: list[Served]) -> None:
    codes = asyncio.run(burst(bases_of(replicas), RPM_KEY, "script/echo", 200))
    assert codes == Counter({200: 50, 429: 150})


def test_max_parallel_holds_across_two_replicas(replicas: list[Served]) -> None:
    codes = asyncio.run(burst(bases_of(replicas), PAR_KEY, "script/slow-1500", 40))
    assert codes == Counter({200: 5, 429: 35})


def test_a_budget_holds_across_two_replicas(replicas: list[Served]) -> None:
    # Each request reserves 10 completion tokens at $0.001: $0.01; the day's $0.25 admits 25
    # while they are all in flight.
    codes = asyncio.run(
        burst(bases_of(replicas), BUDGET_KEY, "script/slow-1500", 60, max_tokens=10)
    )
    assert codes == Counter({200: 25, 429: 35})
    usage = httpx.get(
        f"{replicas[1].base}/v1/usage",
        headers={"authorization": f"Bearer {BUDGET_KEY}"},
        timeout=10,
    ).json()
    # Both replicas' usage, from the one Redis.
    assert usage["totals"]["requests"] == 25
    assert 0 < usage["totals"]["cost_usd"] <= 0.25


def test_the_sdk_stops_at_a_spent_budget_without_retrying(replicas: list[Served]) -> None:
    """`x-should-retry: false` makes the SDK raise at once instead of retrying."""
    proc, base = replicas[0].proc, replicas[0].base
    client = OpenAI(base_url=f"{base}/v1", api_key=SPENT_KEY, max_retries=3)
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    # The first request is admitted (nothing spent yet) and costs more than the budget.
    client.chat.completions.create(model="script/echo", messages=messages)
    refused_before = proc.output().count('"status":429')
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="script/echo", messages=messages)
    assert caught.value.code == "insufficient_quota"
    client.close()
    deadline = time.monotonic() + 5  # the access-log line is written after the reply
    while proc.output().count('"status":429') == refused_before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # a retry, were there one, would log its own line by now
    assert proc.output().count('"status":429') == refused_before + 1  # one call, no retry


def test_spend_and_usage_survive_a_restart(cluster: Cluster) -> None:
    """After the tests above: a replica started afresh reads both from Redis."""
    old = cluster.replicas[0]
    old.proc.stop()
    fresh = cluster.start()
    cluster.replicas[0] = fresh
    headers = {"authorization": f"Bearer {SPENT_KEY}"}
    usage = httpx.get(f"{fresh.base}/v1/usage", headers=headers, timeout=10).json()
    assert usage["totals"]["requests"] == 1 and usage["totals"]["cost_usd"] > 0.0001
    body = {"model": "script/echo", "messages": [{"role": "user", "content": "hi"}]}
    again = httpx.post(f"{fresh.base}/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert again.status_code == 429 and again.json()["error"]["code"] == "insufficient_quota"


def test_keys_and_their_hashes_never_reach_a_log(cluster: Cluster) -> None:
    logs = "".join(served.proc.output() for served in cluster.started)
    assert '"event":"request"' in logs
    for key in KEYS:
        assert key not in logs
        assert sha(key)[:12] not in logs
