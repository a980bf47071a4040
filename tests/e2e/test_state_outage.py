"""Redis frozen, then killed, under two gateways sharing it: `fail_open` keeps serving with
local limits (a warning, `gateway_state_degraded 1`), `fail_closed` answers 503
`state_unavailable` with `retry-after`; never a 500, never a hang; both recover once Redis
is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.keys.records import sha256_hex as sha
from tests.e2e.conftest import UPSTREAM_KEY
from tests.support import RedisServer, Served, start_gateway

pytestmark = pytest.mark.e2e
KEY = "sk-outage-0123456789"
SHA = sha(KEY)
CONFIG = f"""
server: {{access_log: true}}
state: {{redis_url_env: TEST_REDIS_URL, on_unavailable: MODE, timeout_seconds: 0.25}}
auth: {{required: true}}
keys:
  - {{id: limited, sha256: {SHA}, limits: {{rpm: 1000}}}}
backends:
  up: {{type: openai, base_url: "LOOPBACK_URL", api_key_env: LOOP_KEY}}
models:
  - {{id: script/*, backend: up, upstream_model: "*"}}
"""
BODY = {"model": "script/echo", "messages": [{"role": "user", "content": "hi"}]}
# Far above the 0.25 s Redis bound: a request that takes longer is hanging.
PATIENCE = 3.0


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, loopback: str
) -> Iterator[tuple[RedisServer, dict[str, Served]]]:
    redis = RedisServer()
    redis.start()
    tmp = tmp_path_factory.mktemp("outage")
    env = {"LOOP_KEY": UPSTREAM_KEY, "TEST_REDIS_URL": redis.url}
    procs: dict[str, Served] = {}
    try:
        for mode in ("fail_open", "fail_closed"):
            config = tmp / f"{mode}.yaml"
            config.write_text(CONFIG.replace("MODE", mode).replace("LOOPBACK_URL", loopback))
            procs[mode] = Served(*start_gateway(Path(tmp), ["--config", str(config)], env=env))
        yield redis, procs
    finally:
        for served in procs.values():
            served.proc.stop()
        redis.stop()


def call(proc: Served) -> httpx.Response:
    started = time.monotonic()
    reply = httpx.post(
        f"{proc.base}/v1/chat/completions",
        json=BODY,
        headers={"authorization": f"Bearer {KEY}"},
        timeout=PATIENCE + 5,
    )
    assert time.monotonic() - started < PATIENCE, "the request hung on Redis"
    return reply


def degraded(proc: Served) -> str:
    metrics = httpx.get(f"{proc.base}/metrics", timeout=5).text
    return next(line for line in metrics.splitlines() if line.startswith("gateway_state_degraded"))


def check_outage(procs: dict[str, Served]) -> None:
    for _ in range(5):
        open_reply = call(procs["fail_open"])
        assert open_reply.status_code == 200, open_reply.text
        assert open_reply.headers["x-ratelimit-limit-requests"] == "1000"  # counted locally
        closed = call(procs["fail_closed"])
        assert closed.status_code == 503, closed.text
        assert closed.json()["error"]["code"] == "state_unavailable"
        assert int(closed.headers["retry-after"]) >= 1
    assert degraded(procs["fail_open"]) == "gateway_state_degraded 1.0"


def wait_recovered(procs: dict[str, Served]) -> None:
    """Each gateway retries Redis after a backoff (at most 5 s), not on every request."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        closed = call(procs["fail_closed"]).status_code
        assert call(procs["fail_open"]).status_code == 200
        if closed == 200 and degraded(procs["fail_open"]).endswith(" 0.0"):
            break
        assert closed in (200, 503)
        time.sleep(0.25)
    assert call(procs["fail_closed"]).status_code == 200
    assert degraded(procs["fail_open"]) == "gateway_state_degraded 0.0"


def test_outages_follow_the_configured_mode_and_recover(
    setup: tuple[RedisServer, dict[str, Served]],
) -> None:
    redis, procs = setup
    for proc in procs.values():
        assert call(proc).status_code == 200
    redis.pause()  # frozen: every call would hang without its timeout
    try:
        check_outage(procs)
    finally:
        redis.resume()
    wait_recovered(procs)
    redis.stop()  # killed: connections refused
    check_outage(procs)
    redis.start()  # back on the same port, empty
    wait_recovered(procs)
    logs = "".join(p.proc.output() for p in procs.values())
    assert "rate limits and budgets: Redis unavailable" in logs
    assert '"status":500' not in logs
    assert KEY not in logs and SHA[:12] not in logs
