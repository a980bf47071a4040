"""Real `gateway serve` processes: with `--workers 2` every worker's `/metrics` reports the
counters summed over both (prometheus-client multiprocess mode, in a directory `serve`
creates and removes); the log is JSON lines, each line logged while handling a request
carries its id, and no key or secret reaches it, not even with `server.log_bodies` on."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Process, start_gateway

pytestmark = pytest.mark.e2e
REQUESTS = 24
CONFIG = {
    "server": {"access_log": True},
    "backends": {"fake": {"type": "fake"}},
    "models": [
        {"id": "echo", "backend": "fake"},
        {"id": "fake/*", "backend": "fake", "upstream_model": "*"},
    ],
}


def _serve(tmp: Path, *args: str, server: dict[str, object] | None = None) -> tuple[Process, str]:
    config = tmp / "gateway.json"
    document = {**CONFIG, "server": {**CONFIG["server"], **(server or {})}}  # type: ignore[dict-item]
    config.write_text(json.dumps(document))
    # `serve` makes its metrics directory under TMPDIR: here, where the test can see it.
    return start_gateway(tmp, ["--config", str(config), *args], env={"TMPDIR": str(tmp)})


def _chat_total(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "gateway_requests":
            return sum(
                s.value
                for s in family.samples
                if s.name == "gateway_requests_total"
                and s.labels["route"] == "/v1/chat/completions"
                and s.labels["status"] == "200"
            )
    return 0.0


def _wait_for_workers(proc: Process, count: int) -> None:
    deadline = time.monotonic() + 60
    while proc.output().count("Application startup complete") < count:
        assert time.monotonic() < deadline, proc.output()
        time.sleep(0.1)


def test_every_worker_reports_the_sum_over_workers(tmp_path: Path) -> None:
    proc, base = _serve(tmp_path, "--workers", "2")
    try:
        _wait_for_workers(proc, 2)
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(REQUESTS):
            # A new connection each time: the kernel spreads them over the workers.
            with httpx.Client(base_url=base, timeout=10) as client:
                assert client.post("/v1/chat/completions", json=body).status_code == 200
        totals = []
        for _ in range(8):
            with httpx.Client(base_url=base, timeout=10) as client:
                text = client.get("/metrics").text
                totals.append(_chat_total(text))
        assert totals == [REQUESTS] * 8
        # Scrape-time gauges are merged too: one breaker series, not one per worker.
        breakers = [line for line in text.splitlines() if line.startswith("gateway_breaker_state{")]
        assert breakers == ['gateway_breaker_state{target="fake/echo"} 0.0'], breakers
        (directory,) = tmp_path.glob("gateway-metrics-*")
        pids = {p.stem.rsplit("_", 1)[1] for p in directory.glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers counted something
    finally:
        proc.stop()
    assert not list(tmp_path.glob("gateway-metrics-*"))  # removed at exit


def test_log_lines_are_json_with_the_request_id_and_no_secret(tmp_path: Path) -> None:
    key = "sk-proj-" + secrets.token_urlsafe(40)
    proc, base = _serve(tmp_path, server={"log_bodies": True})
    try:
        headers = {"authorization": f"Bearer {key}", "x-request-id": "req-logged-1"}
        body = {
            "model": "fake/die-mid-stream",
            "stream": True,
            "user": key,
            "messages": [{"role": "user", "content": f"my key is {key}, keep it"}],
        }
        with httpx.Client(base_url=base, timeout=10) as client:
            reply = client.post("/v1/chat/completions", json=body, headers=headers)
            assert reply.headers["x-request-id"] == "req-logged-1"
            leaked = {**body, "model": f"fake/{key}", "stream": False}
            assert client.post("/v1/chat/completions", json=leaked, headers=headers).is_success
    finally:
        proc.stop()
    output = proc.output()
    assert key not in output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    during = [line for line in lines if line.get("request_id") == "req-logged-1"]
    # The access-log line and the failed stream's warning, both tagged.
    assert any(line.get("event") == "request" for line in during), during
    assert any(line.get("logger") == "gateway.stream" for line in during), during
    logged = next(line for line in during if line.get("event") == "request")
    assert "[REDACTED:" in logged["body"] and "keep it" in logged["body"]
