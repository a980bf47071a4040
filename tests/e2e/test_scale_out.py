"""The scale-out recipe: two gateway processes on one real Redis behind a round-robin
balancer (`tests/round_robin_balancer.py`, the next replica for every request) behave as one
gateway: a key's rpm admits exactly the limit, a breaker opened by one replica's failures
is open on the other, and an answer cached through one is a hit through the other."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.keys.records import sha256_hex as sha
from tests.e2e.conftest import UPSTREAM_KEY, upstream_records
from tests.round_robin_balancer import UPSTREAM_HEADER
from tests.support import Process, RedisServer, Served, free_port, start_gateway

pytestmark = pytest.mark.e2e
RPM = 10
LIMITED_KEY = "sk-scale-limited-0123456789"
OPEN_KEY = "sk-scale-open-0123456789"
CONFIG = f"""
server: {{access_log: false}}
defaults:
  timeouts: {{connect: 2, first_byte: 10, idle: 10}}
  retries: {{attempts: 1}}
  breaker: {{failures: 3, window_seconds: 30, cooldown_seconds: 60}}
state: {{redis_url_env: TEST_REDIS_URL}}
cache: {{backend: redis}}
auth: {{required: true}}
keys:
  - {{id: limited, sha256: {sha(LIMITED_KEY)}, limits: {{rpm: {RPM}}}}}
  - {{id: open, sha256: {sha(OPEN_KEY)}}}
backends:
  up: {{type: openai, base_url: "LOOPBACK_URL", api_key_env: LOOP_KEY}}
models:
  - {{id: script/*, backend: up, upstream_model: "*"}}
  - {{id: shaky, targets: [{{backend: up, upstream_model: error-500@scale-out}},
                          {{backend: up, upstream_model: echo@scale-out-ok}}]}}
  - {{id: cached, backend: up, upstream_model: echo@scale-out-cache, cache: {{mode: exact}}}}
"""
FAILING = "up/error-500@scale-out"


@dataclass(frozen=True)
class Cluster:
    replicas: tuple[Served, Served]
    balancer: str  # the one URL clients use


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, loopback: str) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scale-out")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG.replace("LOOPBACK_URL", loopback))
    redis = RedisServer()
    redis.start()
    env = {"LOOP_KEY": UPSTREAM_KEY, "TEST_REDIS_URL": redis.url}
    procs: list[Process] = []
    try:
        replicas = []
        for _ in range(2):
            served = Served(*start_gateway(tmp, ["--config", str(config)], env=env))
            procs.append(served.proc)
            replicas.append(served)
        balancer = start_balancer(tmp, [r.base for r in replicas])
        procs.append(balancer.proc)
        yield Cluster((replicas[0], replicas[1]), balancer.base)
    finally:
        for proc in procs:
            proc.stop()
        redis.stop()


def start_balancer(tmp: Path, upstreams: list[str]) -> Served:
    port = free_port()
    args = [sys.executable, "-m", "tests.round_robin_balancer", "--port", str(port)]
    for upstream in upstreams:
        args += ["--upstream", upstream]
    proc = Process(args, tmp / f"balancer-{port}.log")
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{base}/readyz")
    return Served(proc, base)


def chat(base: str, key: str, model: str, text: str = "hi", **extra: object) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
        headers={"authorization": f"Bearer {key}"},
        timeout=15,
    )


def breaker_state(base: str) -> str:
    return str(httpx.get(f"{base}/readyz", timeout=5).json()["breakers"][FAILING])


def test_the_balancer_alternates_between_the_replicas(cluster: Cluster) -> None:
    served_by = [
        chat(cluster.balancer, OPEN_KEY, "script/echo").headers[UPSTREAM_HEADER] for _ in range(4)
    ]
    assert served_by in (["0", "1", "0", "1"], ["1", "0", "1", "0"])


def test_a_keys_rpm_admits_exactly_the_limit_across_both(cluster: Cluster) -> None:
    replies = [chat(cluster.balancer, LIMITED_KEY, "script/echo") for _ in range(2 * RPM)]
    codes = [r.status_code for r in replies]
    assert codes == [200] * RPM + [429] * RPM
    # Each replica admitted half and refused half: the count lives in the one Redis.
    assert {r.headers[UPSTREAM_HEADER] for r in replies[:RPM]} == {"0", "1"}
    assert {r.headers[UPSTREAM_HEADER] for r in replies[RPM:]} == {"0", "1"}
    assert replies[-1].json()["error"]["type"] == "rate_limit_error"
    assert int(replies[-1].headers["retry-after"]) >= 1


def test_failures_through_one_replica_open_the_breaker_on_both(cluster: Cluster) -> None:
    first, second = cluster.replicas
    assert breaker_state(first.base) == breaker_state(second.base) == "closed"
    for _ in range(3):  # straight to replica A, past the balancer
        reply = chat(first.base, OPEN_KEY, "shaky")
        assert reply.status_code == 200 and reply.headers["x-gateway-attempts"] == "2"
    assert breaker_state(first.base) == "open"
    deadline = time.monotonic() + 5
    while breaker_state(second.base) != "open":
        assert time.monotonic() < deadline, "replica B never saw the breaker open"
        time.sleep(0.05)
    # Through the balancer now: neither replica calls the failing target any more.
    replies = [chat(cluster.balancer, OPEN_KEY, "shaky") for _ in range(4)]
    assert {r.headers[UPSTREAM_HEADER] for r in replies} == {"0", "1"}
    for reply in replies:
        assert reply.status_code == 200
        assert reply.headers["x-gateway-attempts"] == "1"
        assert reply.headers["x-gateway-target"] == "up/echo@scale-out-ok"


def test_an_answer_cached_through_one_replica_is_a_hit_through_the_other(
    cluster: Cluster, loopback: str
) -> None:
    text = f"cache me {uuid.uuid4().hex[:8]}"
    first = chat(cluster.balancer, OPEN_KEY, "cached", text, temperature=0)
    assert first.status_code == 200 and first.headers["x-gateway-cache"] == "miss"
    writer = first.headers[UPSTREAM_HEADER]
    # The entry is written after the reply: poll (each request goes to the next replica).
    deadline = time.monotonic() + 5
    while True:
        reply = chat(cluster.balancer, OPEN_KEY, "cached", text, temperature=0)
        assert reply.json()["choices"][0]["message"]["content"] == text
        if reply.headers[UPSTREAM_HEADER] != writer and reply.headers["x-gateway-cache"] == "hit":
            break
        assert time.monotonic() < deadline, "the other replica never hit the cached answer"
        time.sleep(0.05)
    # A stream through the balancer replays the same entry, whichever replica takes it.
    with httpx.stream(
        "POST",
        f"{cluster.balancer}/v1/chat/completions",
        json={
            "model": "cached",
            "messages": [{"role": "user", "content": text}],
            "temperature": 0,
            "stream": True,
        },
        headers={"authorization": f"Bearer {OPEN_KEY}"},
        timeout=15,
    ) as stream:
        assert stream.headers["x-gateway-cache"] == "hit"
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = stream.read().decode()
    assert body.rstrip().endswith("data: [DONE]")
    sent = [r for r in upstream_records(loopback) if text in str(r["body"])]
    assert len(sent) == 1  # one upstream call for the whole cluster
